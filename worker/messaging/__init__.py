"""worker/messaging package."""
