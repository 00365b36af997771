"""Database stack: an encrypted RDS PostgreSQL instance in the private subnets, with its DB
subnet group, a parameter group (TLS enforced, slow queries and connections logged), an
RDS-managed master password stored in Secrets Manager and enhanced monitoring."""

import json

import pulumi
import pulumi_aws as aws

STACK = "database-rds"
config = pulumi.Config()
cloud = pulumi.Config("cloud")
deployment_id = cloud.get("deploymentId", "local")
environment = cloud.get("environment", "dev")
prefix = f"{deployment_id}-{environment}".lower()
base_tags = cloud.get_object("tags", {})
tags = {**base_tags, "DeploymentId": deployment_id, "Environment": environment, "Stack": STACK}

subnet_ids = config.require_object("subnetIds")
security_group_id = config.require("databaseSecurityGroupId")
kms_key_arn = config.require("kmsKeyArn")
port = config.require_int("port")
engine_version = config.get("engineVersion", "16")
instance_class = config.get("instanceClass", "db.t3.micro")
allocated_storage = config.get_int("allocatedStorage", 20)
backup_days = config.get_int("backupRetentionDays", 7)
multi_az = config.get_bool("multiAz", False)
database_name = config.get("databaseName", "app")
master_username = config.get("masterUsername", "dbadmin")
monitoring_interval = config.get_int("monitoringIntervalSeconds", 60)
deletion_protection = config.get_bool("deletionProtection", False)

identifier = f"{prefix}-postgres"

subnet_group = aws.rds.SubnetGroup(
    "db-subnets",
    name=f"{prefix}-db",
    subnet_ids=subnet_ids,
    description="Private subnets of the database",
    tags=tags,
)

parameters = {"rds.force_ssl": "1", "log_min_duration_statement": "1000", "log_connections": "1"}
parameter_group = aws.rds.ParameterGroup(
    "db-params",
    name=f"{prefix}-postgres{engine_version}",
    family=f"postgres{engine_version}",
    description="Platform PostgreSQL parameters",
    parameters=[{"name": name, "value": value} for name, value in parameters.items()],
    tags=tags,
)

monitoring_role_arn = None
if monitoring_interval > 0:
    principal = {"Service": "monitoring.rds.amazonaws.com"}
    trust = {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": principal}
    monitoring_role = aws.iam.Role(
        "db-monitoring-role",
        name=f"{prefix}-rds-monitoring",
        assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": [trust]}),
        tags=tags,
    )
    aws.iam.RolePolicyAttachment(
        "db-monitoring-policy",
        role=monitoring_role.name,
        policy_arn="arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole",
    )
    monitoring_role_arn = monitoring_role.arn

db = aws.rds.Instance(
    "postgres",
    identifier=identifier,
    engine="postgres",
    engine_version=engine_version,
    instance_class=instance_class,
    allocated_storage=allocated_storage,
    storage_type="gp3",
    storage_encrypted=True,
    kms_key_id=kms_key_arn,
    db_name=database_name,
    username=master_username,
    manage_master_user_password=True,
    master_user_secret_kms_key_id=kms_key_arn,
    port=port,
    db_subnet_group_name=subnet_group.name,
    parameter_group_name=parameter_group.name,
    vpc_security_group_ids=[security_group_id],
    multi_az=multi_az,
    backup_retention_period=backup_days,
    enabled_cloudwatch_logs_exports=["postgresql"],
    monitoring_interval=monitoring_interval,
    monitoring_role_arn=monitoring_role_arn,
    deletion_protection=deletion_protection,
    final_snapshot_identifier=f"{identifier}-final",
    copy_tags_to_snapshot=True,
    tags=tags,
)

pulumi.export("endpoint", db.address)
pulumi.export("port", db.port)
pulumi.export("dbInstanceId", db.identifier)
pulumi.export("dbInstanceArn", db.arn)
pulumi.export("databaseName", db.db_name)
pulumi.export("masterUsername", db.username)
pulumi.export("masterUserSecretArn", db.master_user_secrets.apply(lambda s: s[0].secret_arn))
