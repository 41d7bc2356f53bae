"""One module per group of root fields; each root field runs one SQL statement."""
