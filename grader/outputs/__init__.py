"""What a run leaves behind: the gradebook, the public bundle, the reports."""
