#!/usr/bin/env python3
"""CDK entry point: `python app.py` (or `cdk synth`) writes the cloud assembly to cdk.out/."""

import os

import aws_cdk as cdk

from stacks.kops_onboard_stack import KopsOnboardStack

STACK_NAME = "KopsOnboard"


def build_app(outdir: str | None = None) -> cdk.App:
    # The CDK CLI passes its output directory in CDK_OUTDIR; without the CLI, default to cdk.out.
    app = cdk.App(outdir=outdir or os.environ.get("CDK_OUTDIR") or "cdk.out")
    KopsOnboardStack(
        app,
        STACK_NAME,
        description="kops-onboard: onboard kOps clusters and handle their Spot interruptions",
        env=cdk.Environment(
            account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")
        ),
    )
    return app


if __name__ == "__main__":
    build_app().synth()
