"""What the gallery shows of vulnerability scanning: severity badges on the Tags tab and the
repository page, the scan panel of image pages, the findings page, the comparison of two tags
and the rescan button.

The scanning itself is registry.scanning's; this package only reads its results through
`registry.scanning.services` and shapes them for pages (`services.py`, `views.py`).
"""
