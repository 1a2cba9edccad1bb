"""The real-like side: a second generator for the demo's test-like frames, never used
for training data (spec/design.md, "Two generators"; docs/realism.md)."""
