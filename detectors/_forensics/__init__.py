"""Shared code for the pixel-forensics detectors (ela, noise, jpeg_ghost, copy_move).

Not a detector itself (the leading underscore keeps it out of the registry's way): input checks,
the cached luma plane, block statistics, robust scoring and heatmap rendering live here once, so
the four detectors read the same way and their heatmaps look alike.
"""
