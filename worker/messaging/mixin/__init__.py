"""worker/messaging/mixin package."""
