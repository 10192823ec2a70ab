"""WHM API 1 functions."""
