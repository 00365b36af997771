"""Monitoring stack: a KMS-encrypted SNS alarm topic (with an email subscription when an
address is set), an operations log group, and for every watched resource whose name is
configured (RDS instance, auto scaling group, Lambda function, ECS cluster/service, HTTP
API) a CloudWatch alarm notifying the topic plus a widget on the dashboard."""

import json

import pulumi
import pulumi_aws as aws

STACK = "monitoring"
config = pulumi.Config()
cloud = pulumi.Config("cloud")
deployment_id = cloud.get("deploymentId", "local")
environment = cloud.get("environment", "dev")
region = cloud.get("region", "us-east-1")
prefix = f"{deployment_id}-{environment}".lower()
base_tags = cloud.get_object("tags", {})
tags = {**base_tags, "DeploymentId": deployment_id, "Environment": environment, "Stack": STACK}

kms_key_arn = config.require("kmsKeyArn")
alarm_email = config.get("alarmEmail", "")
db_instance_id = config.get("dbInstanceId", "")
asg_name = config.get("autoScalingGroupName", "")
function_name = config.get("functionName", "")
ecs_cluster = config.get("ecsClusterName", "")
ecs_service = config.get("ecsServiceName", "")
api_id = config.get("apiId", "")
cpu_threshold = config.get_int("cpuThresholdPercent", 80)
error_threshold = config.get_int("errorThreshold", 5)
periods = config.get_int("evaluationPeriods", 2)
log_retention = config.get_int("logRetentionDays", 90)

topic = aws.sns.Topic("alarms", name=f"{prefix}-alarms", kms_master_key_id=kms_key_arn, tags=tags)
if alarm_email:
    aws.sns.TopicSubscription(
        "alarm-email", topic=topic.arn, protocol="email", endpoint=alarm_email
    )

log_group = aws.cloudwatch.LogGroup(
    "operations",
    name=f"/platform/{prefix}/operations",
    retention_in_days=log_retention,
    kms_key_id=kms_key_arn,
    tags=tags,
)

ecs_dimensions = {"ClusterName": ecs_cluster}
if ecs_service:
    ecs_dimensions["ServiceName"] = ecs_service
# (watched name, alarm suffix, namespace, metric, dimensions, statistic, threshold)
watched = [
    (db_instance_id, "rds-cpu", "AWS/RDS", "CPUUtilization",
     {"DBInstanceIdentifier": db_instance_id}, "Average", cpu_threshold),
    (asg_name, "ec2-cpu", "AWS/EC2", "CPUUtilization",
     {"AutoScalingGroupName": asg_name}, "Average", cpu_threshold),
    (function_name, "lambda-errors", "AWS/Lambda", "Errors",
     {"FunctionName": function_name}, "Sum", error_threshold),
    (ecs_cluster, "ecs-cpu", "AWS/ECS", "CPUUtilization",
     ecs_dimensions, "Average", cpu_threshold),
    (api_id, "api-5xx", "AWS/ApiGateway", "5xx",
     {"ApiId": api_id}, "Sum", error_threshold),
]  # fmt: skip

alarm_names = []
widgets = []
for name, suffix, namespace, metric, dimensions, statistic, threshold in watched:
    if not name:
        continue
    alarm = aws.cloudwatch.MetricAlarm(
        suffix,
        name=f"{prefix}-{suffix}",
        alarm_description=f"{metric} of {name} above {threshold}",
        namespace=namespace,
        metric_name=metric,
        dimensions=dimensions,
        statistic=statistic,
        period=300,
        evaluation_periods=periods,
        threshold=threshold,
        comparison_operator="GreaterThanThreshold",
        treat_missing_data="notBreaching",
        alarm_actions=[topic.arn],
        ok_actions=[topic.arn],
        tags=tags,
    )
    alarm_names.append(alarm.name)
    metric_ref = [namespace, metric, *[part for pair in dimensions.items() for part in pair]]
    title = f"{metric} - {name}"
    properties = {"title": title, "region": region, "stat": statistic, "metrics": [metric_ref]}
    widgets.append({"type": "metric", "width": 12, "height": 6, "properties": properties})

if not widgets:
    text = {"markdown": f"No watched resources are configured for {prefix}."}
    widgets.append({"type": "text", "width": 24, "height": 2, "properties": text})

dashboard = aws.cloudwatch.Dashboard(
    "dashboard",
    dashboard_name=f"{prefix}-overview",
    dashboard_body=json.dumps({"widgets": widgets}),
)

pulumi.export("alarmTopicArn", topic.arn)
pulumi.export("dashboardName", dashboard.dashboard_name)
pulumi.export("logGroupName", log_group.name)
pulumi.export("alarmNames", alarm_names)
