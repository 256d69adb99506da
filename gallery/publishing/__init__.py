"""Publishing in the browser: repository settings and policy, and (later) archive import
and logos. Pages here call the registry's and the gallery's services."""
