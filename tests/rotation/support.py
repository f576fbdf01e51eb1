"""The app as the rotation tests deploy it: synthesized with the access-key rotation on and a topic for its
notifications (one synth into its own directory, reused by the infrastructure and e2e tests)."""

from pathlib import Path

from moto.core.models import DEFAULT_ACCOUNT_ID

from stacks.app_builder import ACCESS_KEY_ROTATION_OUTDIR, synthesize

ROTATION_DAYS = 30
TOPIC_NAME = "kops-onboard-key-rotations"
TOPIC_ARN = f"arn:aws:sns:us-east-1:{DEFAULT_ACCOUNT_ID}:{TOPIC_NAME}"
# As `-c key=value` gives them: strings.
ROTATION_CONTEXT = {"accessKeyRotationDays": str(ROTATION_DAYS), "accessKeyRotationTopicArn": TOPIC_ARN}
ROTATION_HANDLER = "kops_lambda.handlers.access_key_rotation.handler"


def rotation_template() -> Path:
    return synthesize(ACCESS_KEY_ROTATION_OUTDIR, context=ROTATION_CONTEXT)
