"""The pull-through cache of upstream registries: rules set by staff map a namespace prefix
in Berth to an upstream; pulls under it are served from Berth and fetched on a miss. See
README.md in this folder."""
