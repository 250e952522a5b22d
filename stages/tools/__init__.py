"""Commands outside the pipeline: predict photos, share reproduced stages."""
