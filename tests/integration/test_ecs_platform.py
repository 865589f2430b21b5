"""The ECS adapter against moto's server: what it builds, registers, runs, scales and removes in AWS.

moto keeps ECS, CodeBuild, Cloud Map, ECR and Secrets Manager records (nothing runs), so these tests assert
the requests Portico makes and the state it leaves; task progress is driven with moto's RunTask/StopTask.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from portico.errors import ValidationError
from portico.hosting.ecs import EcsPlatform, slug
from portico.hosting.platform import Workload
from portico.ids import new_id
from portico.local.aws import LOCAL_CREDENTIALS, Moto
from portico.settings import Settings

REGION = "us-east-1"
EXECUTION_ROLE = "arn:aws:iam::123456789012:role/portico-test-task-execution"
RUNNER = "123456789012.dkr.ecr.us-east-1.amazonaws.com/portico-runner:1"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    moto = Moto()
    try:
        url = moto.start()
        # moto walks a task from RUNNING towards STOPPED on every read; here a task runs until stopped.
        transition = {"model_name": "ecs::task", "transition": {"progression": "manual", "times": 1_000_000}}
        request = urllib.request.Request(
            f"{url}/moto-api/state-manager/set-transition", data=json.dumps(transition).encode(), method="POST"
        )
        urllib.request.urlopen(request, timeout=10).close()
        yield url
    finally:
        moto.stop()


@dataclass
class Aws:
    url: str
    settings: Settings
    platform: EcsPlatform
    calls: list[tuple[str, dict[str, Any]]]
    vpc_subnets: list[str]
    namespace_id: str
    clients: dict[str, Any]

    def client(self, service: str) -> Any:
        return self.clients[service]


@pytest.fixture(scope="module")
def clients(moto_url: str) -> Iterator[tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]]:
    """boto3 clients for moto, built once (building one costs ~0.1 s); every request's parameters recorded."""
    session = boto3.session.Session(
        region_name=REGION,
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    calls: list[tuple[str, dict[str, Any]]] = []
    made = {}
    for service in ("ec2", "ecs", "servicediscovery", "ecr", "codebuild", "logs", "secretsmanager"):
        made[service] = session.client(service, endpoint_url=moto_url)
        # What the adapter sends, as sent (moto keeps only some of it).
        made[service].meta.events.register(
            f"provide-client-params.{service}.*",
            lambda params, model, _service=service, **_: calls.append((f"{_service}.{model.name}", dict(params))),
        )
    yield made, calls


@pytest.fixture
def env(moto_url: str, clients: tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]) -> Aws:
    """A hosting setup of its own in moto: cluster, VPC, subnets, group, namespace, repository, build project."""
    uid = uuid.uuid4().hex[:8]
    made, calls = clients
    calls.clear()
    probe = Aws(moto_url, Settings(), EcsPlatform(), calls, [], "", made)
    ec2 = probe.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    # Cloud Map private DNS needs it in AWS; moto's RunTask needs it to name the task's ENI.
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.8.{i}.0/24")["Subnet"]["SubnetId"] for i in (1, 2)]
    group = ec2.create_security_group(GroupName=f"hosted-{uid}", Description="hosted servers", VpcId=vpc)["GroupId"]
    cluster = probe.client("ecs").create_cluster(clusterName=f"hosting-{uid}")["cluster"]["clusterName"]
    sd = probe.client("servicediscovery")
    operation = sd.create_private_dns_namespace(Name=f"{uid}.portico.internal", Vpc=vpc)["OperationId"]
    namespace_id = sd.get_operation(OperationId=operation)["Operation"]["Targets"]["NAMESPACE"]
    repository = probe.client("ecr").create_repository(repositoryName=f"hosted-{uid}")["repository"]["repositoryUri"]
    probe.client("codebuild").create_project(
        name=f"build-{uid}",
        source={"type": "NO_SOURCE", "buildspec": "version: 0.2", "location": "none"},  # moto wants a location
        artifacts={"type": "NO_ARTIFACTS"},
        environment={
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_MEDIUM",
        },
        serviceRole="arn:aws:iam::123456789012:role/portico-test-build",
    )
    probe.client("logs").create_log_group(logGroupName=f"/portico/{uid}/hosted-servers")
    settings = Settings(
        stage=f"t{uid}",
        region=REGION,
        endpoint_url=moto_url,
        hosting_cluster=cluster,
        hosting_subnets=",".join(subnets),
        hosting_security_group=group,
        hosting_execution_role_arn=EXECUTION_ROLE,
        hosting_namespace_id=namespace_id,
        hosting_namespace_name=f"{uid}.portico.internal",
        runner_image_uri=RUNNER,
        build_project=f"build-{uid}",
        image_repository_uri=repository,
        hosted_log_group=f"/portico/{uid}/hosted-servers",
    )
    calls.clear()
    return Aws(moto_url, settings, EcsPlatform(settings, made.__getitem__), calls, subnets, namespace_id, made)


def package_workload(**changes: Any) -> Workload:
    w = Workload(
        server_id=new_id("mcp"),
        org_id=new_id("org"),
        name="everything",
        source_type="package",
        command="npx",
        args=("-y", "@modelcontextprotocol/server-everything"),
        env={"API_TOKEN": "tok-very-secret-1", "MODE": "demo"},
        cpu=512,
        memory=1024,
        log_group="/portico/hosted",
        log_stream="mcp-stream",
    )
    return replace(w, **changes)


def task_definition(aws: Aws, w: Workload) -> dict[str, Any]:
    return dict(aws.client("ecs").describe_task_definition(taskDefinition=aws.platform.family(w))["taskDefinition"])


def service(aws: Aws, w: Workload) -> dict[str, Any] | None:
    found = aws.client("ecs").describe_services(cluster=aws.settings.hosting_cluster, services=[slug(w.server_id)])
    active = [s for s in found["services"] if s["status"] != "INACTIVE"]
    return active[0] if active else None


def run_task(aws: Aws, w: Workload) -> str:
    """What ECS does for the service's current deployment: start one of its tasks."""
    current = service(aws, w)
    assert current is not None
    deployment = next(d for d in current["deployments"] if d["status"] == "PRIMARY")
    task = aws.client("ecs").run_task(
        cluster=aws.settings.hosting_cluster,
        taskDefinition=current["taskDefinition"],
        launchType="FARGATE",
        startedBy=deployment["id"],
        networkConfiguration={
            "awsvpcConfiguration": {"subnets": aws.vpc_subnets, "securityGroups": [aws.settings.hosting_security_group]}
        },
    )["tasks"][0]
    return str(task["taskArn"])


def cloud_map_names(aws: Aws) -> set[str]:
    return {s["Name"] for s in aws.client("servicediscovery").list_services()["Services"]}


# ---------------------------------------------------------------------------------------------- deploy
def test_package_server_task_definition_runs_the_runner_with_limits_logs_and_no_task_role(env: Aws) -> None:
    w = package_workload()
    env.platform.deploy(w)

    td = task_definition(env, w)
    assert td["requiresCompatibilities"] == ["FARGATE"]
    assert td["networkMode"] == "awsvpc"
    assert (td["cpu"], td["memory"]) == ("512", "1024")
    assert "taskRoleArn" not in td
    assert td["executionRoleArn"] == EXECUTION_ROLE
    (container,) = td["containerDefinitions"]
    assert container["image"] == RUNNER
    assert container["command"] == ["npx", "-y", "@modelcontextprotocol/server-everything"]
    assert container["memory"] == 1024
    assert container["cpu"] == 512
    assert container["portMappings"][0]["containerPort"] == 8080
    assert container["logConfiguration"] == {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": "/portico/hosted",
            "awslogs-region": REGION,
            "awslogs-stream-prefix": "mcp-stream",
        },
    }
    assert container["environment"] == [{"name": "PORT", "value": "8080"}]


def test_server_environment_reaches_the_task_through_a_secret_never_the_task_definition(env: Aws) -> None:
    w = package_workload()
    env.platform.deploy(w)

    td = task_definition(env, w)
    assert "tok-very-secret-1" not in json.dumps(td, default=str)
    secret = env.client("secretsmanager").get_secret_value(SecretId=env.platform.secret_name(w))
    assert json.loads(secret["SecretString"]) == w.env
    (container,) = td["containerDefinitions"]
    assert container["secrets"] == [
        {"name": "API_TOKEN", "valueFrom": f"{secret['ARN']}:API_TOKEN::"},
        {"name": "MODE", "valueFrom": f"{secret['ARN']}:MODE::"},
    ]


def test_service_runs_one_task_in_private_subnets_behind_the_hosting_group_registered_in_cloud_map(env: Aws) -> None:
    w = package_workload()
    env.platform.deploy(w)

    svc = service(env, w)
    assert svc is not None
    assert svc["clusterArn"].endswith(f"cluster/{env.settings.hosting_cluster}")
    assert svc["desiredCount"] == 1
    assert svc["launchType"] == "FARGATE"
    assert svc["networkConfiguration"]["awsvpcConfiguration"] == {
        "subnets": env.vpc_subnets,
        "securityGroups": [env.settings.hosting_security_group],
        "assignPublicIp": "DISABLED",
    }
    (registry,) = svc["serviceRegistries"]
    registered = env.client("servicediscovery").get_service(Id=registry["registryArn"].rsplit("/", 1)[-1])["Service"]
    assert registered["Name"] == slug(w.server_id)
    assert registered["NamespaceId"] == env.namespace_id
    assert registered["DnsConfig"]["DnsRecords"] == [{"Type": "A", "TTL": 10}]
    (create,) = [params for name, params in env.calls if name == "ecs.CreateService"]
    assert create["deploymentConfiguration"]["deploymentCircuitBreaker"] == {"enable": True, "rollback": False}


def test_image_server_runs_its_own_image_on_its_port(env: Aws) -> None:
    w = package_workload(source_type="image", image="ghcr.io/acme/mcp-db:1.2", command=None, args=(), env={}, port=3000)
    env.platform.deploy(w)

    (container,) = task_definition(env, w)["containerDefinitions"]
    assert container["image"] == "ghcr.io/acme/mcp-db:1.2"
    assert "command" not in container
    assert container["portMappings"][0]["containerPort"] == 3000
    assert container["environment"] == [{"name": "PORT", "value": "3000"}]
    assert container.get("secrets", []) == []


def test_deploying_again_registers_a_new_revision_and_updates_the_one_service(env: Aws) -> None:
    w = package_workload()
    env.platform.deploy(w)
    env.platform.deploy(replace(w, args=("-y", "@modelcontextprotocol/server-everything@2026.8.31")))

    svc = service(env, w)
    assert svc is not None and svc["taskDefinition"].endswith(f"{env.platform.family(w)}:2")
    assert [name for name, _ in env.calls].count("ecs.CreateService") == 1
    assert cloud_map_names(env) >= {slug(w.server_id)}
    assert task_definition(env, w)["containerDefinitions"][0]["command"][-1].endswith("@2026.8.31")


def test_a_workload_without_something_to_run_is_refused_by_field(env: Aws) -> None:
    with pytest.raises(ValidationError) as missing_command:
        env.platform.deploy(package_workload(command=None))
    assert missing_command.value.details["field"] == "command"
    with pytest.raises(ValidationError) as missing_image:
        env.platform.deploy(package_workload(source_type="git", repository="https://example.com/r.git", image=None))
    assert missing_image.value.details["field"] == "image"


# ---------------------------------------------------------------------------------------------- status
def test_deployment_status_goes_pending_then_running_with_the_cloud_map_endpoint(env: Aws) -> None:
    w = package_workload()
    env.platform.deploy(w)
    pending = env.platform.deployment_status(w)
    assert pending.phase == "pending"
    assert pending.endpoint_url is None

    run_task(env, w)
    running = env.platform.deployment_status(w)
    assert running.phase == "running"
    assert running.endpoint_url == f"http://{slug(w.server_id)}.{env.settings.hosting_namespace_name}:8080/mcp"


def test_a_task_that_stops_on_its_own_fails_the_deployment_with_its_reason(env: Aws) -> None:
    w = package_workload()
    env.platform.deploy(w)
    task = run_task(env, w)
    env.client("ecs").stop_task(
        cluster=env.settings.hosting_cluster, task=task, reason="Essential container in task exited"
    )

    failed = env.platform.deployment_status(w)
    assert failed.phase == "failed"
    assert "Essential container in task exited" in failed.message

    # Starting again is a new deployment: the old task's failure no longer counts.
    env.platform.scale(w, 0)
    env.platform.scale(w, 1)
    assert env.platform.deployment_status(w).phase == "pending"


def test_deployment_status_of_a_removed_server_is_failed(env: Aws) -> None:
    w = package_workload()
    status = env.platform.deployment_status(w)
    assert status.phase == "failed"
    assert "does not exist" in status.message


# ---------------------------------------------------------------------------------------------- scale
def test_scale_sets_the_desired_count_and_is_idempotent(env: Aws) -> None:
    w = package_workload()
    env.platform.deploy(w)
    env.platform.scale(w, 0)
    env.platform.scale(w, 0)
    svc = service(env, w)
    assert svc is not None and svc["desiredCount"] == 0
    env.platform.scale(w, 1)
    svc = service(env, w)
    assert svc is not None and svc["desiredCount"] == 1
    with pytest.raises(ValidationError):
        env.platform.scale(w, 3)


def test_stopping_a_removed_server_is_a_no_op_and_starting_it_deploys_again(env: Aws) -> None:
    w = package_workload()
    env.platform.scale(w, 0)
    assert service(env, w) is None
    env.platform.scale(w, 1)
    svc = service(env, w)
    assert svc is not None and svc["desiredCount"] == 1


# ---------------------------------------------------------------------------------------------- build
def test_start_build_sends_repository_ref_subdirectory_and_image_target(env: Aws) -> None:
    w = package_workload(
        source_type="git", repository="https://github.com/acme/mcp-db.git", ref="v1.4.0", subdirectory="server/"
    )
    build_id = env.platform.start_build(w)

    assert build_id.startswith(f"{env.settings.build_project}:")
    (params,) = [p for name, p in env.calls if name == "codebuild.StartBuild"]
    assert params["projectName"] == env.settings.build_project
    assert {v["name"]: v["value"] for v in params["environmentVariablesOverride"]} == {
        "REPOSITORY_URL": "https://github.com/acme/mcp-db.git",
        "SOURCE_REF": "v1.4.0",
        "SOURCE_SUBDIR": "server",
        "IMAGE_REPOSITORY": env.settings.image_repository_uri,
        "IMAGE_TAG_PREFIX": w.server_id,
        "SERVER_ID": w.server_id,
    }
    assert {v["type"] for v in params["environmentVariablesOverride"]} == {"PLAINTEXT"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"repository": "file:///etc"}, "repository"),
        ({"repository": "git@github.com:acme/x.git"}, "repository"),
        ({"ref": "--upload-pack=touch /tmp/x"}, "ref"),
        ({"subdirectory": "../../etc"}, "subdirectory"),
    ],
)
def test_start_build_refuses_what_the_build_must_not_run(env: Aws, changes: dict[str, str], field: str) -> None:
    w = package_workload(**{"source_type": "git", "repository": "https://github.com/acme/mcp-db.git", **changes})
    with pytest.raises(ValidationError) as refused:
        env.platform.start_build(w)
    assert refused.value.details["field"] == field
    assert not [name for name, _ in env.calls if name == "codebuild.StartBuild"]


def _stubbed_build_status(build: dict[str, Any]) -> Any:
    """build_status over a CodeBuild client whose BatchGetBuilds answers ``build`` (shape checked by botocore)."""
    codebuild = boto3.session.Session().client(
        "codebuild", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    stubber = Stubber(codebuild)
    stubber.add_response("batch_get_builds", {"builds": [build]}, {"ids": [build["id"]]})
    with stubber:
        return EcsPlatform(Settings(), lambda _: codebuild).build_status(build["id"])


def test_build_status_maps_codebuild_phases() -> None:
    in_progress = _stubbed_build_status({"id": "b:1", "buildStatus": "IN_PROGRESS", "currentPhase": "BUILD"})
    assert (in_progress.phase, in_progress.message) == ("pending", "image build build")

    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/hosted:mcp_1-0123456789ab"
    done = _stubbed_build_status(
        {
            "id": "b:2",
            "buildStatus": "SUCCEEDED",
            "exportedEnvironmentVariables": [{"name": "IMAGE_URI", "value": image}],
        }
    )
    assert (done.phase, done.image) == ("succeeded", image)

    failed = _stubbed_build_status(
        {
            "id": "b:3",
            "buildStatus": "FAILED",
            "phases": [
                {"phaseType": "PRE_BUILD", "phaseStatus": "SUCCEEDED"},
                {
                    "phaseType": "BUILD",
                    "phaseStatus": "FAILED",
                    "contexts": [{"statusCode": "COMMAND_EXECUTION_ERROR", "message": "Error while executing command"}],
                },
            ],
        }
    )
    assert failed.phase == "failed"
    assert failed.message == "image build failed in build: Error while executing command"

    silent = _stubbed_build_status({"id": "b:4", "buildStatus": "SUCCEEDED"})
    assert silent.phase == "failed"


def test_build_status_of_a_moto_build_and_an_unknown_build(env: Aws) -> None:
    w = package_workload(source_type="git", repository="https://github.com/acme/mcp-db.git")
    build_id = env.platform.start_build(w)
    # moto completes builds without running them, so no image is reported: that must not pass as success.
    assert env.platform.build_status(build_id).phase == "failed"
    assert env.platform.build_status(f"{env.settings.build_project}:{uuid.uuid4()}").phase == "failed"


# ---------------------------------------------------------------------------------------------- remove
def _push_image(env: Aws, tag: str) -> None:
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                           "config": {"digest": f"sha256:{uuid.uuid4().hex * 2}", "size": 1, "mediaType": "x"},
                           "layers": []})  # fmt: skip
    repository = str(env.settings.image_repository_uri).split("/", 1)[1]
    env.client("ecr").put_image(repositoryName=repository, imageManifest=manifest, imageTag=tag)


def _tags(env: Aws) -> set[str]:
    repository = str(env.settings.image_repository_uri).split("/", 1)[1]
    return {i.get("imageTag", "") for i in env.client("ecr").list_images(repositoryName=repository)["imageIds"]}


def _active_task_definitions(env: Aws, w: Workload) -> list[str]:
    listed = env.client("ecs").list_task_definitions(familyPrefix=env.platform.family(w), status="ACTIVE")
    return list(listed["taskDefinitionArns"])


def test_remove_deletes_everything_the_server_owns_and_nothing_else(env: Aws) -> None:
    w = package_workload(source_type="git", repository="https://github.com/acme/mcp-db.git", image="img:1")
    other = package_workload()
    env.platform.deploy(w)
    env.platform.deploy(w)
    env.platform.deploy(other)
    _push_image(env, f"{w.server_id}-0123456789ab")
    _push_image(env, f"{w.server_id}-ba9876543210")
    _push_image(env, f"{other.server_id}-0123456789ab")

    env.platform.remove(w)

    assert service(env, w) is None
    assert _active_task_definitions(env, w) == []
    assert slug(w.server_id) not in cloud_map_names(env)
    with pytest.raises(ClientError) as gone:
        env.client("secretsmanager").describe_secret(SecretId=env.platform.secret_name(w))
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert _tags(env) == {f"{other.server_id}-0123456789ab"}
    # The other server is untouched.
    assert service(env, other) is not None
    assert len(_active_task_definitions(env, other)) == 1
    assert slug(other.server_id) in cloud_map_names(env)

    env.platform.remove(w)  # twice: nothing left, nothing fails


def test_remove_of_a_server_never_deployed_succeeds(env: Aws) -> None:
    env.platform.remove(package_workload(source_type="git", repository="https://github.com/acme/x.git"))


def test_remove_after_a_partial_failure_finishes_on_retry(env: Aws) -> None:
    w = package_workload(source_type="git", repository="https://github.com/acme/mcp-db.git", image="img:1")
    env.platform.deploy(w)
    _push_image(env, f"{w.server_id}-0123456789ab")
    failing = {"ecr": 1}
    real = env.platform._client

    def flaky(service_name: str) -> Any:
        if failing.get(service_name):
            failing[service_name] -= 1
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "ListImages")
        return real(service_name)

    broken = EcsPlatform(env.settings, flaky)
    with pytest.raises(ClientError):
        broken.remove(w)
    # The steps before the failure are done; a retry finishes the rest.
    assert service(env, w) is None
    assert _tags(env) == {f"{w.server_id}-0123456789ab"}

    broken.remove(w)
    assert _tags(env) == set()
    assert slug(w.server_id) not in cloud_map_names(env)
    assert _active_task_definitions(env, w) == []


def test_remove_stops_the_servers_running_build_only(env: Aws) -> None:
    w = package_workload(source_type="git", repository="https://github.com/acme/mcp-db.git")
    other = package_workload(source_type="git", repository="https://github.com/acme/other.git")
    mine = env.platform.start_build(w)
    theirs = env.platform.start_build(other)
    # moto records no build environment; answer ListBuildsForProject/BatchGetBuilds as CodeBuild does.
    codebuild = boto3.session.Session().client(
        "codebuild", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    stubber = Stubber(codebuild)
    stubber.add_response("list_builds_for_project", {"ids": [theirs, mine]})

    def build(build_id: str, server_id: str) -> dict[str, Any]:
        env_vars = [{"name": "SERVER_ID", "value": server_id, "type": "PLAINTEXT"}]
        return {"id": build_id, "buildStatus": "IN_PROGRESS", "environment": {
            "type": "LINUX_CONTAINER", "image": "x", "computeType": "BUILD_GENERAL1_MEDIUM",
            "environmentVariables": env_vars}}  # fmt: skip

    stubber.add_response("batch_get_builds", {"builds": [build(theirs, other.server_id), build(mine, w.server_id)]})
    stubber.add_response("stop_build", {"build": {"id": mine, "buildStatus": "STOPPED"}}, {"id": mine})
    real = env.platform._client
    with stubber:
        EcsPlatform(env.settings, lambda s: codebuild if s == "codebuild" else real(s)).remove(w)
        stubber.assert_no_pending_responses()
