"""Getting the photos in: validate params, download, read archives, decode once, split."""
