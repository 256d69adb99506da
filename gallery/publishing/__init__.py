"""Publishing in the browser: new repositories, settings and policy with a live preview,
logos (logos.py, media.py), archive imports (uploads.py for the resumable upload,
archives.py to read and check an archive, imports.py to store it through the registry's
services), deleting tags, images and repositories. Pages here call the registry's and the
gallery's services."""
