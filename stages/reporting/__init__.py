"""After training: scoring, the comparison, and the study's figures."""
