"""Container image stack: a CodeBuild project that builds the application image with Docker
and pushes it to the ECR repository, with its service role (logs, KMS, ECR push) and log
group. The project builds when started (console, CLI or a webhook added later); with no
sourceLocation it builds a small placeholder HTTP server listening on 8080."""

import pulumi
import pulumi_aws as aws

STACK = "containers-images"
config = pulumi.Config()
cloud = pulumi.Config("cloud")
deployment_id = cloud.get("deploymentId", "local")
environment = cloud.get("environment", "dev")
prefix = f"{deployment_id}-{environment}".lower()
base_tags = cloud.get_object("tags", {})
tags = {**base_tags, "DeploymentId": deployment_id, "Environment": environment, "Stack": STACK}

repository_url = config.require("repositoryUrl")
push_policy_arn = config.require("pushPolicyArn")
kms_key_arn = config.require("kmsKeyArn")
image_tag = config.get("imageTag", "latest")
source_location = config.get("sourceLocation", "")
source_version = config.get("sourceVersion", "main")
compute_type = config.get("computeType", "BUILD_GENERAL1_SMALL")
timeout_minutes = config.get_int("buildTimeoutMinutes", 20)
log_retention = config.get_int("logRetentionDays", 30)

BUILDSPEC = """version: 0.2
phases:
  pre_build:
    commands:
      - aws ecr get-login-password | docker login -u AWS --password-stdin "${REPOSITORY_URL%%/*}"
      - |
        if [ ! -f Dockerfile ]; then
          echo 'FROM public.ecr.aws/docker/library/python:3.12-alpine' > Dockerfile
          echo 'CMD ["python", "-m", "http.server", "8080"]' >> Dockerfile
        fi
  build:
    commands:
      - docker build -t "$REPOSITORY_URL:$IMAGE_TAG" .
  post_build:
    commands:
      - docker push "$REPOSITORY_URL:$IMAGE_TAG"
"""

name = f"{prefix}-app-image"
log_group = aws.cloudwatch.LogGroup(
    "build-logs",
    name=f"/aws/codebuild/{name}",
    retention_in_days=log_retention,
    kms_key_id=kms_key_arn,
    tags=tags,
)


def policy_document(*statements):
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": list(statements)})


principal = {"Service": "codebuild.amazonaws.com"}
trust = policy_document({"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": principal})
role = aws.iam.Role("build-role", name=f"{name}-build", assume_role_policy=trust, tags=tags)
log_actions = ["logs:CreateLogStream", "logs:PutLogEvents"]
kms_actions = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*"]
aws.iam.RolePolicy(
    "build-policy",
    role=role.id,
    policy=policy_document(
        {
            "Effect": "Allow",
            "Action": log_actions,
            "Resource": pulumi.Output.concat(log_group.arn, ":*"),
        },
        {"Effect": "Allow", "Action": kms_actions, "Resource": kms_key_arn},
    ),
)
aws.iam.RolePolicyAttachment("build-ecr-push", role=role.name, policy_arn=push_policy_arn)

source = {"type": "NO_SOURCE", "buildspec": BUILDSPEC}
if source_location:
    source = {
        "type": "GITHUB",
        "location": source_location,
        "git_clone_depth": 1,
        "buildspec": BUILDSPEC,
    }

variables = {"REPOSITORY_URL": repository_url, "IMAGE_TAG": image_tag}
project = aws.codebuild.Project(
    "app-image",
    name=name,
    description=f"Build and push {repository_url}:{image_tag}",
    service_role=role.arn,
    encryption_key=kms_key_arn,
    build_timeout=timeout_minutes,
    source=source,
    source_version=source_version if source_location else None,
    artifacts={"type": "NO_ARTIFACTS"},
    environment={
        "type": "LINUX_CONTAINER",
        "compute_type": compute_type,
        "image": "aws/codebuild/amazonlinux-x86_64-standard:5.0",
        "privileged_mode": True,  # Docker builds
        "environment_variables": [{"name": k, "value": v} for k, v in variables.items()],
    },
    logs_config={"cloudwatch_logs": {"group_name": log_group.name}},
    tags=tags,
)

pulumi.export("buildProjectName", project.name)
pulumi.export("buildProjectArn", project.arn)
pulumi.export("buildRoleArn", role.arn)
pulumi.export("logGroupName", log_group.name)
pulumi.export("imageUri", f"{repository_url}:{image_tag}")
