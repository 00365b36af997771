"""Application stack: the Fargate service running the application image behind the shared
load balancer. Database host/port/name come in as environment variables; the database
credentials and the application configuration are injected from Secrets Manager by the
task execution role. Includes the task role and an encrypted log group."""

import pulumi
import pulumi_aws as aws

STACK = "containers-apps"
config = pulumi.Config()
cloud = pulumi.Config("cloud")
deployment_id = cloud.get("deploymentId", "local")
environment = cloud.get("environment", "dev")
region = cloud.get("region", "us-east-1")
prefix = f"{deployment_id}-{environment}".lower()
base_tags = cloud.get_object("tags", {})
tags = {**base_tags, "DeploymentId": deployment_id, "Environment": environment, "Stack": STACK}

cluster_arn = config.require("clusterArn")
target_group_arn = config.require("targetGroupArn")
container_port = config.require_int("containerPort")
image_uri = config.require("imageUri")
db_endpoint = config.require("dbEndpoint")
db_port = config.require_int("dbPort")
db_name = config.require("dbName")
db_secret_arn = config.require("dbMasterUserSecretArn")
app_secret_arn = config.require("appSecretArn")
subnet_ids = config.require_object("privateSubnetIds")
security_group_id = config.require("appSecurityGroupId")
kms_key_arn = config.require("kmsKeyArn")
service_name = config.get("serviceName", "app")
cpu = config.get_int("cpu", 256)
memory = config.get_int("memory", 512)
desired_count = config.get_int("desiredCount", 2)
log_retention = config.get_int("logRetentionDays", 30)


def policy_document(*statements):
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": list(statements)})


name = f"{prefix}-{service_name}"
principal = {"Service": "ecs-tasks.amazonaws.com"}
trust = policy_document({"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": principal})

execution_role = aws.iam.Role(
    "execution-role", name=f"{name}-exec", assume_role_policy=trust, tags=tags
)
aws.iam.RolePolicyAttachment(
    "execution-managed",
    role=execution_role.name,
    policy_arn="arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
)
secrets = [app_secret_arn, db_secret_arn]
aws.iam.RolePolicy(
    "execution-secrets",
    role=execution_role.id,
    policy=policy_document(
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secrets},
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": kms_key_arn},
    ),
)
task_role = aws.iam.Role("task-role", name=f"{name}-task", assume_role_policy=trust, tags=tags)

log_group = aws.cloudwatch.LogGroup(
    "logs", name=f"/ecs/{name}", retention_in_days=log_retention, kms_key_id=kms_key_arn, tags=tags
)

log_options = {
    "awslogs-group": log_group.name,
    "awslogs-region": region,
    "awslogs-stream-prefix": "app",
}
env = {"APP_ENV": environment, "DB_HOST": db_endpoint, "DB_PORT": str(db_port), "DB_NAME": db_name}
secret_env = {"APP_CONFIG": app_secret_arn, "DB_CREDENTIALS": db_secret_arn}
container = {
    "name": service_name,
    "image": image_uri,
    "essential": True,
    "portMappings": [{"containerPort": container_port, "protocol": "tcp"}],
    "environment": [{"name": k, "value": v} for k, v in env.items()],
    "secrets": [{"name": k, "valueFrom": v} for k, v in secret_env.items()],
    "logConfiguration": {"logDriver": "awslogs", "options": log_options},
}
task_definition = aws.ecs.TaskDefinition(
    "task",
    family=name,
    requires_compatibilities=["FARGATE"],
    network_mode="awsvpc",
    cpu=str(cpu),
    memory=str(memory),
    execution_role_arn=execution_role.arn,
    task_role_arn=task_role.arn,
    container_definitions=pulumi.Output.json_dumps([container]),
    tags=tags,
)

target = {"target_group_arn": target_group_arn, "container_name": service_name}
service = aws.ecs.Service(
    "service",
    name=service_name,
    cluster=cluster_arn,
    task_definition=task_definition.arn,
    desired_count=desired_count,
    launch_type="FARGATE",
    network_configuration={"subnets": subnet_ids, "security_groups": [security_group_id]},
    load_balancers=[{**target, "container_port": container_port}],
    deployment_circuit_breaker={"enable": True, "rollback": True},
    health_check_grace_period_seconds=60,
    propagate_tags="SERVICE",
    tags=tags,
)

pulumi.export("serviceName", service.name)
pulumi.export("serviceArn", service.arn)
pulumi.export("taskDefinitionArn", task_definition.arn)
pulumi.export("taskRoleArn", task_role.arn)
pulumi.export("logGroupName", log_group.name)
