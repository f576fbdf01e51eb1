#!/usr/bin/env python3
"""CDK entry point: `python app.py` (or `cdk synth`) writes the cloud assembly to cdk.out/."""

from stacks.app_builder import build_app

if __name__ == "__main__":
    build_app().synth()
