"""Secrets stack: two Secrets Manager secrets encrypted with the platform KMS key - the
application configuration (seeded with a non-sensitive JSON document) and the third-party
integrations credentials (left empty for operators to fill) - and a managed IAM policy that
workloads attach to read them."""

import json

import pulumi
import pulumi_aws as aws

STACK = "secrets"
config = pulumi.Config()
cloud = pulumi.Config("cloud")
deployment_id = cloud.get("deploymentId", "local")
environment = cloud.get("environment", "dev")
prefix = f"{deployment_id}-{environment}".lower()
base_tags = cloud.get_object("tags", {})
tags = {**base_tags, "DeploymentId": deployment_id, "Environment": environment, "Stack": STACK}

kms_key_arn = config.require("kmsKeyArn")
recovery_window = config.get_int("recoveryWindowDays", 7)
log_level = config.get("logLevel", "info")

app_secret = aws.secretsmanager.Secret(
    "app-config",
    name=f"{prefix}/app/config",
    description="Application configuration",
    kms_key_id=kms_key_arn,
    recovery_window_in_days=recovery_window,
    tags=tags,
)

# Seed document only: real values are added by the application team after deployment.
aws.secretsmanager.SecretVersion(
    "app-config-initial",
    secret_id=app_secret.id,
    secret_string=json.dumps(
        {"environment": environment, "deploymentId": deployment_id, "logLevel": log_level}
    ),
)

integrations_secret = aws.secretsmanager.Secret(
    "integrations",
    name=f"{prefix}/app/integrations",
    description="Third-party API credentials",
    kms_key_id=kms_key_arn,
    recovery_window_in_days=recovery_window,
    tags=tags,
)

read_policy = aws.iam.Policy(
    "secrets-read",
    name=f"{prefix}-secrets-read",
    description="Read the application secrets",
    policy=pulumi.Output.json_dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                    "Resource": [app_secret.arn, integrations_secret.arn],
                },
                {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": kms_key_arn},
            ],
        }
    ),
    tags=tags,
)

pulumi.export("appSecretArn", app_secret.arn)
pulumi.export("appSecretName", app_secret.name)
pulumi.export("integrationsSecretArn", integrations_secret.arn)
pulumi.export("integrationsSecretName", integrations_secret.name)
pulumi.export("readPolicyArn", read_policy.arn)
