"""The hub: sync people and organizations across apps by their own ids."""
