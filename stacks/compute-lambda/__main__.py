"""Lambda stack: a Python function running in the private subnets (API Gateway HTTP API
handler) that reads the application configuration secret, with its execution role (VPC
access, secret read, KMS decrypt), and a KMS-encrypted log group it writes to."""

import pulumi
import pulumi_aws as aws

STACK = "compute-lambda"
config = pulumi.Config()
cloud = pulumi.Config("cloud")
deployment_id = cloud.get("deploymentId", "local")
environment = cloud.get("environment", "dev")
prefix = f"{deployment_id}-{environment}".lower()
base_tags = cloud.get_object("tags", {})
tags = {**base_tags, "DeploymentId": deployment_id, "Environment": environment, "Stack": STACK}

subnet_ids = config.require_object("privateSubnetIds")
security_group_id = config.require("appSecurityGroupId")
app_secret_arn = config.require("appSecretArn")
kms_key_arn = config.require("kmsKeyArn")
runtime = config.get("runtime", "python3.12")
memory_size = config.get_int("memorySize", 256)
timeout = config.get_int("timeoutSeconds", 15)
log_retention = config.get_int("logRetentionDays", 30)

HANDLER = """import json, os
import boto3

_secrets = boto3.client("secretsmanager")
_config = None


def handler(event, context):
    global _config
    if _config is None:
        value = _secrets.get_secret_value(SecretId=os.environ["APP_SECRET_ARN"])
        _config = json.loads(value["SecretString"])
    body = {"environment": _config.get("environment"), "path": event.get("rawPath", "/")}
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "body": json.dumps(body)}
"""

function_name = f"{prefix}-api-handler"
log_group = aws.cloudwatch.LogGroup(
    "logs",
    name=f"/aws/lambda/{function_name}",
    retention_in_days=log_retention,
    kms_key_id=kms_key_arn,
    tags=tags,
)


def policy_document(*statements):
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": list(statements)})


principal = {"Service": "lambda.amazonaws.com"}
trust = policy_document({"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": principal})
role = aws.iam.Role("role", name=f"{function_name}-role", assume_role_policy=trust, tags=tags)
vpc_access = aws.iam.RolePolicyAttachment(
    "vpc-access",
    role=role.name,
    policy_arn="arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole",
)
log_actions = ["logs:CreateLogStream", "logs:PutLogEvents"]
app_policy = aws.iam.RolePolicy(
    "app-access",
    role=role.id,
    policy=policy_document(
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": app_secret_arn},
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": kms_key_arn},
        {
            "Effect": "Allow",
            "Action": log_actions,
            "Resource": log_group.arn.apply(lambda a: f"{a}:*"),
        },
    ),
)

function = aws.lambda_.Function(
    "function",
    name=function_name,
    runtime=runtime,
    handler="index.handler",
    role=role.arn,
    code=pulumi.AssetArchive({"index.py": pulumi.StringAsset(HANDLER)}),
    memory_size=memory_size,
    timeout=timeout,
    environment={"variables": {"APP_SECRET_ARN": app_secret_arn, "ENVIRONMENT": environment}},
    kms_key_arn=kms_key_arn,
    vpc_config={"subnet_ids": subnet_ids, "security_group_ids": [security_group_id]},
    logging_config={"log_format": "Text", "log_group": log_group.name},
    tags=tags,
    opts=pulumi.ResourceOptions(depends_on=[vpc_access, app_policy]),
)

pulumi.export("functionArn", function.arn)
pulumi.export("functionName", function.name)
pulumi.export("invokeArn", function.invoke_arn)
pulumi.export("roleArn", role.arn)
pulumi.export("logGroupName", log_group.name)
