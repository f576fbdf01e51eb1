"""Speed and scale figures of kops-onboard on the local system, printed (never asserted), run by `make bench`."""
