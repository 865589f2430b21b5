"""The container-platform port on AWS: CodeBuild builds git sources, ECS Fargate runs every hosted server.

One hosted server owns, all named after its id: an ECS service (desired count 0 or 1) in the hosting
cluster, its task definition family, a Cloud Map service (the DNS name the gateway reaches), a Secrets
Manager secret holding its environment, and ECR images tagged ``<server_id>-<commit>``.

Tasks run with no task role (no platform credentials), in private subnets without a public IP, behind a
security group only the gateway's functions may reach. The server's environment (resolved secrets
included) goes to a per-server secret that ECS injects at start, so no value ever appears in a task
definition, a log line or a response.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

from botocore.exceptions import ClientError

from portico.errors import PorticoError, ValidationError
from portico.hosting.platform import Progress, Workload
from portico.observability import logger
from portico.repositories import aws
from portico.settings import Settings, get_settings

CONTAINER = "mcp"
# Stop codes that mean "Portico or the scheduler stopped it on purpose", not "the server failed".
_DELIBERATE_STOPS = {"UserInitiated", "ServiceSchedulerInitiated"}
_FAILED_BUILDS = {"FAILED", "FAULT", "TIMED_OUT", "STOPPED"}
_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,254}$")
_SUBDIRECTORY = re.compile(r"^[A-Za-z0-9._][A-Za-z0-9._/-]{0,254}$")


class CleanupPendingError(PorticoError):
    """Something remove() deletes is still in use (Cloud Map instances draining): retry shortly."""


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def slug(server_id: str) -> str:
    """A DNS-label form of a server id (``mcp_ab12…`` → ``mcp-ab12…``)."""
    return server_id.lower().replace("_", "-")


class EcsPlatform:
    """ECS Fargate + CodeBuild + Cloud Map behind the platform port. Configuration comes from settings."""

    name = "ecs"

    def __init__(self, settings: Settings | None = None, client: Callable[[str], Any] | None = None) -> None:
        self._settings = settings
        self._client = client or aws.client

    @property
    def settings(self) -> Settings:
        return self._settings or get_settings()

    # ------------------------------------------------------------------ names
    def family(self, w: Workload) -> str:
        return f"portico-{self.settings.stage}-{slug(w.server_id)}"

    def secret_name(self, w: Workload) -> str:
        return f"portico/{self.settings.stage}/hosted/{w.server_id}/env"

    def endpoint_url(self, w: Workload) -> str:
        namespace = self.settings.require("hosting_namespace_name")
        return f"http://{slug(w.server_id)}.{namespace}:{w.port}/mcp"

    # ------------------------------------------------------------------ build (git sources)
    def start_build(self, w: Workload) -> str:
        """Start a CodeBuild build of the repository; the buildspec tags ``<server_id>-<commit>``.

        Raises:
            ValidationError: the workload is not a buildable https git source.
            ConfigurationError: the build project or image repository is not configured.
        """
        if w.source_type != "git" or not w.repository:
            raise ValidationError("only git sources are built", field="repository")
        if not w.repository.startswith("https://"):
            raise ValidationError("repository must be an https:// URL", field="repository")
        if w.ref and not _REF.match(w.ref):
            raise ValidationError("ref is not a valid branch, tag or commit", field="ref")
        if w.subdirectory and (not _SUBDIRECTORY.match(w.subdirectory) or ".." in w.subdirectory.split("/")):
            raise ValidationError("subdirectory must be a relative path inside the repository", field="subdirectory")
        variables = {
            "REPOSITORY_URL": w.repository,
            "SOURCE_REF": w.ref or "",
            "SOURCE_SUBDIR": (w.subdirectory or "").strip("/"),
            "IMAGE_REPOSITORY": self.settings.require("image_repository_uri"),
            "IMAGE_TAG_PREFIX": w.server_id,
            "SERVER_ID": w.server_id,
        }
        build = self._client("codebuild").start_build(
            projectName=self.settings.require("build_project"),
            environmentVariablesOverride=[{"name": k, "value": v, "type": "PLAINTEXT"} for k, v in variables.items()],
        )["build"]
        logger.info("image build started", server_id=w.server_id, build_id=build["id"])
        return str(build["id"])

    def build_status(self, build_id: str) -> Progress:
        """pending while CodeBuild runs; succeeded with the pushed image; failed with the failing phase."""
        builds = self._client("codebuild").batch_get_builds(ids=[build_id]).get("builds", [])
        if not builds:
            return Progress("failed", f"image build {build_id} not found")
        build = builds[0]
        status = build.get("buildStatus", "IN_PROGRESS")
        if status == "SUCCEEDED":
            exported = {v["name"]: v.get("value", "") for v in build.get("exportedEnvironmentVariables", [])}
            if not exported.get("IMAGE_URI"):
                return Progress("failed", "image build succeeded but did not report its image")
            return Progress("succeeded", "image built", image=exported["IMAGE_URI"])
        if status in _FAILED_BUILDS:
            return Progress("failed", f"image build {status.lower().replace('_', ' ')}{_failed_phase(build)}")
        return Progress("pending", f"image build {build.get('currentPhase', 'in progress').lower()}")

    # ------------------------------------------------------------------ run
    def deploy(self, w: Workload) -> None:
        """Register a task definition revision and create or update the service (desired count 1).

        Raises:
            ValidationError: the workload has no image or command to run.
            ConfigurationError: a hosting setting is missing.
        """
        registry_arn = self._cloud_map_service(w) or self._create_cloud_map_service(w)
        task_definition = self._register_task_definition(w)
        ecs = self._client("ecs")
        cluster = self.settings.require("hosting_cluster")
        network = self._network()
        service = self._service(w)
        if service is not None:
            ecs.update_service(
                cluster=cluster,
                service=slug(w.server_id),
                taskDefinition=task_definition,
                desiredCount=1,
                networkConfiguration=network,
                forceNewDeployment=True,
            )
            logger.info("ecs service updated", server_id=w.server_id, task_definition=task_definition)
            return
        ecs.create_service(
            cluster=cluster,
            serviceName=slug(w.server_id),
            taskDefinition=task_definition,
            desiredCount=1,
            launchType="FARGATE",
            networkConfiguration=network,
            serviceRegistries=[{"registryArn": registry_arn}],
            deploymentConfiguration={
                "minimumHealthyPercent": 0,
                "maximumPercent": 200,
                "deploymentCircuitBreaker": {"enable": True, "rollback": False},
            },
            propagateTags="SERVICE",
            enableECSManagedTags=True,
            tags=self._tags(w),
        )
        logger.info("ecs service created", server_id=w.server_id, task_definition=task_definition)

    def deployment_status(self, w: Workload) -> Progress:
        """running once a task of the current deployment runs; failed when one stopped on its own."""
        service = self._service(w)
        if service is None:
            return Progress("failed", "the server's ECS service does not exist")
        primary = next((d for d in service.get("deployments", []) if d.get("status") == "PRIMARY"), None)
        if primary is None:
            return Progress("pending", "waiting for the ECS deployment to start")
        if primary.get("rolloutState") == "FAILED":
            return Progress("failed", f"ECS deployment failed: {primary.get('rolloutStateReason', '')}".rstrip(": "))
        tasks = [t for t in self._tasks(w) if t.get("startedBy") == primary["id"]]
        if any(t.get("lastStatus") == "RUNNING" for t in tasks):
            return Progress("running", "task running", endpoint_url=self.endpoint_url(w))
        stopped = [t for t in tasks if t.get("lastStatus") == "STOPPED" and t.get("stopCode") not in _DELIBERATE_STOPS]
        if stopped:
            return Progress("failed", _stopped_message(stopped[0]))
        desired = service.get("desiredCount", 0)
        return Progress("pending", f"{service.get('runningCount', 0)} of {desired} tasks running")

    def scale(self, w: Workload, desired: int) -> None:
        """Set the desired count; starting a server whose service is gone deploys it again.

        Raises:
            ValidationError: ``desired`` is not 0 or 1.
        """
        if desired not in (0, 1):
            raise ValidationError("desired count must be 0 or 1", field="desired")
        try:
            self._client("ecs").update_service(
                cluster=self.settings.require("hosting_cluster"),
                service=slug(w.server_id),
                desiredCount=desired,
                # A new deployment on start, so deployment_status ignores tasks stopped before it.
                forceNewDeployment=desired > 0,
            )
        except ClientError as exc:
            if _code(exc) not in ("ServiceNotFoundException", "ServiceNotActiveException"):
                raise
            if desired:
                self.deploy(w)
        logger.info("ecs service scaled", server_id=w.server_id, desired=desired)

    def remove(self, w: Workload) -> None:
        """Delete the service, task definitions, Cloud Map service, secret, images and running builds.

        Every step treats "not found" as done, so a retry after a partial failure finishes the job.

        Raises:
            CleanupPendingError: Cloud Map still has instances draining; retry shortly.
        """
        self._delete_service(w)
        self._deregister_task_definitions(w)
        self._stop_builds(w)
        self._delete_images(w)
        self._delete_secret(w)
        self._delete_cloud_map_service(w)
        logger.info("hosted server resources removed", server_id=w.server_id)

    # ------------------------------------------------------------------ pieces
    def _network(self) -> dict[str, Any]:
        subnets = [s.strip() for s in self.settings.require("hosting_subnets").split(",") if s.strip()]
        return {
            "awsvpcConfiguration": {
                "subnets": subnets,
                "securityGroups": [self.settings.require("hosting_security_group")],
                "assignPublicIp": "DISABLED",
            }
        }

    def _tags(self, w: Workload) -> list[dict[str, str]]:
        return [{"key": "portico:server-id", "value": w.server_id}, {"key": "portico:org-id", "value": w.org_id}]

    def _service(self, w: Workload) -> dict[str, Any] | None:
        described = self._client("ecs").describe_services(
            cluster=self.settings.require("hosting_cluster"), services=[slug(w.server_id)]
        )
        active = [s for s in described.get("services", []) if s.get("status") != "INACTIVE"]
        return active[0] if active else None

    def _tasks(self, w: Workload) -> list[dict[str, Any]]:
        ecs = self._client("ecs")
        cluster = self.settings.require("hosting_cluster")
        arns: list[str] = []
        for desired in ("RUNNING", "STOPPED"):
            arns += ecs.list_tasks(cluster=cluster, serviceName=slug(w.server_id), desiredStatus=desired)["taskArns"]
        tasks: list[dict[str, Any]] = []
        for start in range(0, len(arns), 100):
            tasks += ecs.describe_tasks(cluster=cluster, tasks=arns[start : start + 100])["tasks"]
        return tasks

    def _container(self, w: Workload) -> dict[str, Any]:
        if w.source_type == "package":
            if not w.command:
                raise ValidationError("a package server needs a command", field="command")
            image, command = self.settings.require("runner_image_uri"), [w.command, *w.args]
        else:
            if not w.image:
                raise ValidationError("the server has no image to run", field="image")
            image, command = w.image, []
        secret_arn = self._put_env_secret(w)
        container: dict[str, Any] = {
            "name": CONTAINER,
            "image": image,
            "essential": True,
            "cpu": w.cpu,
            "memory": w.memory,
            "portMappings": [{"containerPort": w.port, "protocol": "tcp", "name": CONTAINER}],
            "environment": [] if "PORT" in w.env else [{"name": "PORT", "value": str(w.port)}],
            "secrets": [{"name": k, "valueFrom": f"{secret_arn}:{k}::"} for k in sorted(w.env)] if secret_arn else [],
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": w.log_group or self.settings.require("hosted_log_group"),
                    "awslogs-region": self.settings.region,
                    "awslogs-stream-prefix": w.log_stream or slug(w.server_id),
                },
            },
            "linuxParameters": {"initProcessEnabled": True},
            "stopTimeout": 10,
        }
        if command:
            container["command"] = command
        return container

    def _register_task_definition(self, w: Workload) -> str:
        registered = self._client("ecs").register_task_definition(
            family=self.family(w),
            requiresCompatibilities=["FARGATE"],
            networkMode="awsvpc",
            cpu=str(w.cpu),
            memory=str(w.memory),
            runtimePlatform={"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
            # Pulls the image and writes logs; deliberately no taskRoleArn: the server gets no AWS credentials.
            executionRoleArn=self.settings.require("hosting_execution_role_arn"),
            containerDefinitions=[self._container(w)],
            tags=self._tags(w),
        )
        return str(registered["taskDefinition"]["taskDefinitionArn"])

    def _put_env_secret(self, w: Workload) -> str | None:
        """The server's environment as one JSON secret (ECS injects each key); none when it has no env."""
        sm = self._client("secretsmanager")
        if not w.env:
            self._delete_secret(w)
            return None
        value = json.dumps(w.env)
        try:
            return str(sm.put_secret_value(SecretId=self.secret_name(w), SecretString=value)["ARN"])
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise
        created = sm.create_secret(
            Name=self.secret_name(w),
            SecretString=value,
            Description=f"Environment of hosted MCP server {w.server_id}",
            Tags=[{"Key": "portico:server-id", "Value": w.server_id}],
        )
        return str(created["ARN"])

    def _cloud_map_service(self, w: Workload) -> str | None:
        """The ARN of the server's Cloud Map service, if it exists."""
        sd = self._client("servicediscovery")
        namespace = self.settings.require("hosting_namespace_id")
        name = slug(w.server_id)
        for page in sd.get_paginator("list_services").paginate(
            Filters=[{"Name": "NAMESPACE_ID", "Values": [namespace], "Condition": "EQ"}]
        ):
            for service in page.get("Services", []):
                if service.get("Name") == name:
                    return str(service["Arn"])
        return None

    def _create_cloud_map_service(self, w: Workload) -> str:
        created = self._client("servicediscovery").create_service(
            Name=slug(w.server_id),
            NamespaceId=self.settings.require("hosting_namespace_id"),
            Description=f"Hosted MCP server {w.server_id}",
            DnsConfig={"RoutingPolicy": "MULTIVALUE", "DnsRecords": [{"Type": "A", "TTL": 10}]},
            HealthCheckCustomConfig={"FailureThreshold": 1},
            Tags=[{"Key": "portico:server-id", "Value": w.server_id}],
        )
        return str(created["Service"]["Arn"])

    def _delete_service(self, w: Workload) -> None:
        ecs = self._client("ecs")
        try:
            ecs.delete_service(cluster=self.settings.require("hosting_cluster"), service=slug(w.server_id), force=True)
        except ClientError as exc:
            if _code(exc) not in ("ServiceNotFoundException", "ServiceNotActiveException"):
                raise

    def _deregister_task_definitions(self, w: Workload) -> None:
        ecs = self._client("ecs")
        family = self.family(w)
        for page in ecs.get_paginator("list_task_definitions").paginate(familyPrefix=family, status="ACTIVE"):
            for arn in page.get("taskDefinitionArns", []):
                # familyPrefix is a prefix: keep only this exact family.
                if arn.rsplit("/", 1)[-1].rsplit(":", 1)[0] != family:
                    continue
                try:
                    ecs.deregister_task_definition(taskDefinition=arn)
                except ClientError as exc:
                    if _code(exc) not in ("ClientException", "InvalidParameterException"):
                        raise

    def _stop_builds(self, w: Workload) -> None:
        if w.source_type != "git" or not self.settings.build_project:
            return
        codebuild = self._client("codebuild")
        try:
            ids = codebuild.list_builds_for_project(projectName=self.settings.build_project, sortOrder="DESCENDING")
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                return
            raise
        recent = ids.get("ids", [])[:100]
        if not recent:
            return
        for build in codebuild.batch_get_builds(ids=recent).get("builds", []):
            variables = {
                v["name"]: v.get("value") for v in build.get("environment", {}).get("environmentVariables", [])
            }
            if build.get("buildStatus") == "IN_PROGRESS" and variables.get("SERVER_ID") == w.server_id:
                codebuild.stop_build(id=build["id"])

    def _delete_images(self, w: Workload) -> None:
        uri = self.settings.image_repository_uri
        if not uri:
            return
        ecr = self._client("ecr")
        repository = uri.split("/", 1)[1]
        try:
            ids = [
                {"imageTag": image["imageTag"]}
                for page in ecr.get_paginator("list_images").paginate(
                    repositoryName=repository, filter={"tagStatus": "TAGGED"}
                )
                for image in page.get("imageIds", [])
                if image.get("imageTag", "").startswith(f"{w.server_id}-")
            ]
            for start in range(0, len(ids), 100):
                ecr.batch_delete_image(repositoryName=repository, imageIds=ids[start : start + 100])
        except ClientError as exc:
            if _code(exc) != "RepositoryNotFoundException":
                raise

    def _delete_secret(self, w: Workload) -> None:
        try:
            self._client("secretsmanager").delete_secret(SecretId=self.secret_name(w), ForceDeleteWithoutRecovery=True)
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise

    def _delete_cloud_map_service(self, w: Workload, attempts: int = 10, pause: float = 1.0) -> None:
        if not self.settings.hosting_namespace_id:  # a stack without hosting never created one
            return
        arn = self._cloud_map_service(w)
        if arn is None:
            return
        sd = self._client("servicediscovery")
        service_id = arn.rsplit("/", 1)[-1]
        for attempt in range(attempts):
            try:
                sd.delete_service(Id=service_id)
                return
            except ClientError as exc:
                if _code(exc) == "ServiceNotFound":
                    return
                if _code(exc) != "ResourceInUse":
                    raise
            # ECS deregisters a stopping task's instance on its own; do it now so the service can go.
            for instance in _cloud_map_instances(sd, service_id):
                try:
                    sd.deregister_instance(ServiceId=service_id, InstanceId=instance)
                except ClientError as exc:
                    if _code(exc) not in ("InstanceNotFound", "ServiceNotFound", "DuplicateRequest"):
                        raise
            if attempt + 1 < attempts:
                time.sleep(pause)
        raise CleanupPendingError("the server's Cloud Map service still has instances; retry", server_id=w.server_id)


def _cloud_map_instances(sd: Any, service_id: str) -> Iterator[str]:
    try:
        for page in sd.get_paginator("list_instances").paginate(ServiceId=service_id):
            for instance in page.get("Instances", []):
                yield str(instance["Id"])
    except ClientError as exc:
        if _code(exc) != "ServiceNotFound":
            raise


def _failed_phase(build: dict[str, Any]) -> str:
    for phase in build.get("phases", []):
        if phase.get("phaseStatus") in _FAILED_BUILDS:
            messages = "; ".join(c["message"] for c in phase.get("contexts", []) if c.get("message"))
            return f" in {phase.get('phaseType', 'a phase').lower()}" + (f": {messages}" if messages else "")
    return ""


def _stopped_message(task: dict[str, Any]) -> str:
    parts = [f"task stopped: {task.get('stoppedReason') or task.get('stopCode') or 'unknown reason'}"]
    for container in task.get("containers", []):
        if container.get("exitCode") is not None:
            parts.append(f"container exited with code {container['exitCode']}")
        if container.get("reason"):
            parts.append(str(container["reason"]))
    return "; ".join(parts)
