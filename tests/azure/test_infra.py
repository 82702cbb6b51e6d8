"""infra/main.bicep: parsed offline (checkov's Bicep parser, from the .venv-tools tool venv),
checked for the properties the issue requires, and scanned by checkov.

The tool venv keeps checkov's pins away from the app's venv; ``make -f azure.mk tools`` (or
``make azure-test``) creates it. A missing tool is a failure, never a silent skip.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from api.run_requests import instance_id_for
from visitrank.adapters.blob_scores import BLOB_PREFIX as KEPT_SCORES_PREFIX
from visitrank.adapters.blob_staging import RUNS_PREFIX
from visitrank.adapters.segment_store import LATEST, SEGMENTS_PREFIX

ROOT = Path(__file__).resolve().parents[2]
BICEP = ROOT / "infra" / "main.bicep"
TOOLS = ROOT / ".venv-tools" / "bin"

PARSE = """
import json, sys
from pathlib import Path
from checkov.bicep.parser import Parser
template, _ = Parser().parse(Path(sys.argv[1]))
if template is None:
    sys.exit("main.bicep does not parse")
print(json.dumps(template, default=str))
"""


def tool(name: str) -> Path:
    path = TOOLS / name
    if not path.exists():
        pytest.fail(f"{path} missing: run `make -f azure.mk tools` to create the checkov venv")
    return path


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    result = subprocess.run(
        [str(tool("python")), "-c", PARSE, str(BICEP)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def resources_of(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r["config"] for r in template["resources"].values() if r["type"] == kind]


def test_resources_required_by_the_issue(template: dict[str, Any]) -> None:
    kinds = {r["type"] for r in template["resources"].values()}
    assert {
        "Microsoft.Web/sites",
        "Microsoft.Web/serverfarms",
        "Microsoft.Storage/storageAccounts",
        "Microsoft.Storage/storageAccounts/managementPolicies",
        "Microsoft.DocumentDB/databaseAccounts",
        "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers",
        "Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments",
        "Microsoft.KeyVault/vaults",
        "Microsoft.KeyVault/vaults/secrets",
        "Microsoft.Insights/components",
        "Microsoft.OperationalInsights/workspaces",
        "Microsoft.Authorization/roleAssignments",
    } <= kinds


def test_flex_consumption_python_with_managed_identity(template: dict[str, Any]) -> None:
    (plan,) = resources_of(template, "Microsoft.Web/serverfarms")
    assert plan["sku"]["tier"] == "FlexConsumption"
    (app,) = resources_of(template, "Microsoft.Web/sites")
    assert app["identity"]["type"] == "SystemAssigned"
    runtime = app["properties"]["functionAppConfig"]["runtime"]
    assert (runtime["name"], runtime["version"]) == ("python", "3.11")
    settings = {s["name"]: s["value"] for s in app["properties"]["siteConfig"]["appSettings"]}
    assert "AzureWebJobsStorage__accountName" in settings
    assert "AzureWebJobsStorage" not in settings  # identity, not a connection string
    assert "@Microsoft.KeyVault(SecretUri=" in settings["VISITRANK_SQL_CONNECTION_STRING"]
    assert "VISITRANK_COSMOS_KEY" not in settings
    assert "VISITRANK_CONFIG" in settings  # the run configuration, one setting for all sections
    names = ("VISITRANK_SCHEDULE", "VISITRANK_TASK_HUB", "VISITRANK_COSMOS_ENDPOINT")
    for name in (*names, "VISITRANK_READ_ACCESS"):
        assert name in settings


def test_no_keys_anywhere() -> None:
    text = BICEP.read_text()
    assert "listKeys" not in text
    assert "AccountKey=" not in text
    assert "primaryMasterKey" not in text


def test_storage_and_cosmos_use_identity_only(template: dict[str, Any]) -> None:
    (storage,) = resources_of(template, "Microsoft.Storage/storageAccounts")
    assert storage["properties"]["allowSharedKeyAccess"] is False
    (cosmos,) = resources_of(template, "Microsoft.DocumentDB/databaseAccounts")
    assert cosmos["properties"]["disableLocalAuth"] is True


def test_cosmos_containers_partition_keys_and_ttl(template: dict[str, Any]) -> None:
    containers = resources_of(
        template, "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers"
    )
    keys = {
        c["properties"]["resource"]["id"]: c["properties"]["resource"]["partitionKey"]["paths"]
        for c in containers
    }
    # the visit lists (point read by <repId>:<weekStart>), segments and proposed orders
    assert keys == {
        "cosmosContainer": ["/repId"],
        "segments": ["/pk"],
        "orders": ["/customerId"],
    }
    assert all(c["properties"]["resource"]["defaultTtl"] for c in containers)


def test_every_blob_the_app_writes_has_a_lifecycle_rule(template: dict[str, Any]) -> None:
    """The staging runs, the runs' segmentation exports (which had no rule and were never
    deleted) and the kept week scores expire; segments/latest and the tags, which the next run
    needs, do not."""
    (policy,) = resources_of(template, "Microsoft.Storage/storageAccounts/managementPolicies")
    rules = {rule["name"]: rule for rule in policy["properties"]["policy"]["rules"]}
    prefixes = {name: rule["definition"]["filters"]["prefixMatch"] for name, rule in rules.items()}
    assert prefixes == {
        "delete-staging-runs": ["${stagingContainer}/runs/"],
        "delete-segment-exports": ["${stagingContainer}/segments/visitrank-"],
        "delete-kept-scores": ["${stagingContainer}/scores/history/"],
    }
    for rule in rules.values():
        assert "delete" in rule["definition"]["actions"]["baseBlob"]
    # the prefixes match what the app writes: run folders, segment exports under every kind
    # of run id, and never segments/latest
    assert f"{RUNS_PREFIX}/" == "runs/"
    assert f"{KEPT_SCORES_PREFIX}/" == "scores/history/"
    requests: list[dict[str, Any]] = [
        {"weekStart": "2026-11-23"},
        {"weekStart": "2026-11-23", "dryRun": True},
        {"weekStart": "2026-11-23", "regions": [1]},
    ]
    for request in requests:
        export = f"{SEGMENTS_PREFIX}/{instance_id_for(request, 'abcd1234')}/segments.csv"
        assert export.startswith(f"{SEGMENTS_PREFIX}/visitrank-"), export
    assert not LATEST.startswith(f"{SEGMENTS_PREFIX}/visitrank-")


def test_role_assignments(template: dict[str, Any]) -> None:
    text = BICEP.read_text()
    for role in (
        "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",  # Storage Blob Data Owner
        "4633458b-17de-408a-b874-0445c86b69e6",  # Key Vault Secrets User
        "00000000-0000-0000-0000-000000000002",  # Cosmos DB Built-in Data Contributor
    ):
        assert role in text
    assert len(resources_of(template, "Microsoft.Authorization/roleAssignments")) >= 3


def test_parameters_file_matches_the_template(template: dict[str, Any]) -> None:
    parameters = json.loads((ROOT / "infra" / "main.parameters.json").read_text())["parameters"]
    declared = template["parameters"]
    assert set(parameters) <= set(declared)
    required = {name for name, p in declared.items() if p.get("default") is None}
    required.discard("location")  # has a default expression
    assert required <= set(parameters)


def test_checkov_scan_passes_and_every_skip_is_explained() -> None:
    result = subprocess.run(
        [
            str(tool("checkov")),
            "--framework",
            "bicep",
            "--skip-download",
            "-d",
            str(ROOT / "infra"),
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    report = json.loads(result.stdout)
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["failed"] == 0, [
        c["check_id"] for c in report["results"]["failed_checks"]
    ]
    assert result.returncode == 0
    skips = re.findall(r"checkov:skip=(CKV2?_AZURE_\d+):(.*)", BICEP.read_text())
    assert all(len(reason.strip()) > 20 for _, reason in skips)
    applied = {c["check_id"] for c in report["results"]["skipped_checks"]}
    assert {check for check, _ in skips} == applied  # no stale or silent suppression


def test_private_networking_and_diagnostics_are_parameters_off_by_default(
    template: dict[str, Any],
) -> None:
    """Storage, Cosmos and Key Vault kept public endpoints with no way to close them: with
    the two subnet parameters set, their public access is disabled and private endpoints are
    created; diagnostic settings are opt-in."""
    text = BICEP.read_text()
    for name, default in (
        ("appSubnetId", "''"),
        ("privateEndpointSubnetId", "''"),
        ("privateDnsZoneIds", "{}"),
        ("diagnostics", "false"),
    ):
        assert re.search(rf"^param {name} \w+ = {re.escape(default)}$", text, re.M), name
    assert "var privateNetwork = !empty(appSubnetId) && !empty(privateEndpointSubnetId)" in text
    assert "var publicAccess = privateNetwork ? 'Disabled' : 'Enabled'" in text
    for kind in (
        "Microsoft.Storage/storageAccounts",
        "Microsoft.DocumentDB/databaseAccounts",
        "Microsoft.KeyVault/vaults",
    ):
        (resource,) = resources_of(template, kind)
        assert resource["properties"]["publicNetworkAccess"] == "publicAccess", kind
    kinds = {r["type"] for r in template["resources"].values()}
    assert {
        "Microsoft.Network/privateEndpoints",
        "Microsoft.Network/privateEndpoints/privateDnsZoneGroups",
        "Microsoft.Insights/diagnosticSettings",
    } <= kinds
    groups = set(re.findall(r"group: '(\w+)'", text))
    assert groups == {"blob", "queue", "table", "Sql", "vault"}
