"""worker/cli package."""
