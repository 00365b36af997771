"""Each way a repo can be wrong yields its code, at the file and line a user must edit."""

from __future__ import annotations

import pytest

from controller.core import problems as codes
from controller.core.catalog import load_snapshot
from controller.core.models import StackDefinition
from controller.core.validation import validate_snapshot
from tests.conftest import MANIFEST

STACK_DB = "stacks/db/stack.yaml"
TEMPLATE = "stacks/templates/basic.yaml"


def problems_of(files):
    return validate_snapshot(load_snapshot(files))


def replace(files, path, old, new):
    assert old in files[path], f"{old!r} not in {path}"
    files[path] = files[path].replace(old, new, 1)


def line_containing(files, path, needle):
    for number, line in enumerate(files[path].splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def test_the_mini_repo_is_valid(mini_files):
    assert problems_of(mini_files) == []


CASES = [
    pytest.param(
        MANIFEST,
        "size: 40",
        "sise: 40",
        codes.UNKNOWN_CONFIG_KEY,
        "sise",
        "did you mean 'size'",
        id="typo-config-key",
    ),
    pytest.param(
        MANIFEST,
        "  db:\n    config:",
        "  db:\n    confg:",
        codes.UNKNOWN_FIELD,
        "confg",
        "did you mean 'config'",
        id="typo-schema-key",
    ),
    pytest.param(
        MANIFEST,
        'dev: "111111111111"',
        'dev: "11111111111"',
        codes.INVALID_ACCOUNT_ID,
        "11111111111",
        "exactly 12 digits",
        id="account-11-digits",
    ),
    pytest.param(
        MANIFEST,
        'dev: "111111111111"',
        "dev: 111111111111",
        codes.INVALID_ACCOUNT_ID,
        "dev: 111111111111",
        "quote it",
        id="account-unquoted",
    ),
    pytest.param(
        MANIFEST,
        "deploymentId: D000001",
        "deploymentId: d-1",
        codes.INVALID_DEPLOYMENT_ID,
        "deploymentId",
        "'D' followed by 6",
        id="deployment-id-pattern",
    ),
    pytest.param(
        MANIFEST,
        "size: 40",
        "size: 400",
        codes.OUT_OF_RANGE,
        "size: 400",
        "above the maximum 100",
        id="above-max",
    ),
    pytest.param(
        MANIFEST,
        "size: 80",
        "size: 10",
        codes.OUT_OF_RANGE,
        "size: 10",
        "below the minimum 20",
        id="below-min-in-env-override",
    ),
    pytest.param(
        MANIFEST,
        "size: 40",
        "size: forty",
        codes.INVALID_FORMAT,
        "size: forty",
        "must be an integer",
        id="wrong-type",
    ),
    pytest.param(
        MANIFEST,
        "size: 40",
        "engine: oracle",
        codes.INVALID_FORMAT,
        "engine: oracle",
        "must be one of",
        id="not-in-enum",
    ),
    pytest.param(
        MANIFEST,
        "{{RUNTIME:db:endpoint}}",
        "{{RUNTIME:dbx:endpoint}}",
        codes.UNRESOLVABLE_PLACEHOLDER,
        "banner:",
        "no stack named 'dbx'",
        id="placeholder-unknown-stack",
    ),
    pytest.param(
        MANIFEST,
        "{{RUNTIME:db:endpoint}}",
        "{{RUNTIME:db:host}}",
        codes.UNRESOLVABLE_PLACEHOLDER,
        "banner:",
        "declares no output 'host'",
        id="placeholder-undeclared-output",
    ),
    pytest.param(
        MANIFEST,
        "{{RUNTIME:db:endpoint}}",
        "{{RUNTIME:app:url}}",
        codes.UNRESOLVABLE_PLACEHOLDER,
        "banner:",
        "cannot read its own output",
        id="placeholder-self",
    ),
    pytest.param(
        MANIFEST,
        "{{RUNTIME:db:endpoint}}",
        "{{RUNTIME:db}}",
        codes.UNRESOLVABLE_PLACEHOLDER,
        "banner:",
        "malformed placeholder",
        id="placeholder-malformed",
    ),
    pytest.param(
        MANIFEST,
        "template: basic",
        "template: basik",
        codes.UNKNOWN_TEMPLATE,
        "template:",
        "did you mean 'basic'",
        id="unknown-template",
    ),
    pytest.param(
        MANIFEST,
        "  app:\n",
        "  apps:\n    enabled: true\n  app:\n",
        codes.UNKNOWN_STACK,
        "apps:",
        "did you mean 'app'",
        id="unknown-stack-in-manifest",
    ),
    pytest.param(
        MANIFEST,
        'prod: "222222222222"',
        'prd: "222222222222"',
        codes.INVALID_ENVIRONMENT,
        "prd:",
        "not a declared environment",
        id="account-for-undeclared-environment",
    ),
    pytest.param(
        MANIFEST,
        "dev: {enabled: true}",
        "Dev: {enabled: true}",
        codes.INVALID_ENVIRONMENT,
        "Dev:",
        "environment name",
        id="environment-name",
    ),
    pytest.param(
        MANIFEST,
        "organization: Acme",
        "organization: Acme2",
        codes.DIRECTORY_MISMATCH,
        "deploymentId",
        "D000001-Acme2-shop",
        id="directory-name",
    ),
    pytest.param(
        MANIFEST,
        "  db:\n    config:",
        "  sec:\n    enabled: false\n  db:\n    config:",
        codes.MISSING_DEPENDENCY,
        "sec:",
        "depends on 'sec', which is disabled",
        id="dependency-disabled",
    ),
    pytest.param(
        MANIFEST,
        "  db:\n    config:",
        "  db:\n    dependencies: [app]\n    config:",
        codes.CIRCULAR_DEPENDENCY,
        "dependencies: [app]",
        "db → app → db",
        id="cycle-through-manifest-dependency",
    ),
    pytest.param(
        MANIFEST,
        'version: "3.1"',
        'version: "3.0"',
        codes.INVALID_FORMAT,
        "version",
        'version must be "3.1"',
        id="version",
    ),
]


@pytest.mark.parametrize(("path", "old", "new", "code", "line_of", "text"), CASES)
def test_each_mistake_is_found_where_it_was_made(mini_files, path, old, new, code, line_of, text):
    replace(mini_files, path, old, new)
    found = problems_of(mini_files)
    matching = [p for p in found if p.code == code]
    assert matching, f"no {code} in {[(p.code, p.message) for p in found]}"
    problem = matching[0]
    assert problem.file == path
    assert problem.line == line_of_line(mini_files, path, line_of)
    assert text in problem.message


def line_of_line(files, path, needle):
    return line_containing(files, path, needle)


def test_missing_required_config_names_the_stack_and_key(mini_files):
    replace(mini_files, TEMPLATE, '    vpcId: "{{RUNTIME:net:vpcId}}"\n', "    {}\n")
    replace(mini_files, TEMPLATE, "  sec:\n", "  sec:\n")
    mini_files[TEMPLATE] = mini_files[TEMPLATE].replace("  sec:\n    {}\n", "")
    [problem] = problems_of(mini_files)
    assert problem.code == codes.REQUIRED_FIELD
    assert "'sec' needs config 'vpcId'" in problem.message
    assert problem.file == MANIFEST
    assert problem.details["environments"] == ["dev", "prod"]


def test_cycle_in_stack_definitions_reports_the_path(mini_files):
    replace(
        mini_files,
        "stacks/net/stack.yaml",
        "category: network",
        "category: network\ndependencies: [db]",
    )
    cycles = [p for p in problems_of(mini_files) if p.code == codes.CIRCULAR_DEPENDENCY]
    assert cycles
    assert all(p.details["cycle"][0] == p.details["cycle"][-1] for p in cycles)
    assert {"net", "db"} <= set(cycles[0].details["cycle"])


def test_placeholder_to_stack_disabled_in_one_environment(mini_files):
    replace(
        mini_files,
        MANIFEST,
        "  app:\n",
        "  db2: {}\n  app:\n    environments:\n      prod: {enabled: true}\n",
    )
    mini_files[MANIFEST] = mini_files[MANIFEST].replace("  db2: {}\n", "")
    replace(
        mini_files,
        MANIFEST,
        "    environments:\n      prod:\n        config:\n          size: 80",
        "    environments:\n      prod:\n        enabled: false",
    )
    found = problems_of(mini_files)
    unresolvable = [p for p in found if p.code == codes.UNRESOLVABLE_PLACEHOLDER]
    assert unresolvable
    assert all(p.details["environments"] == ["prod"] for p in unresolvable)
    assert any("'db' is disabled in environment 'prod'" in p.message for p in unresolvable)


def test_placeholder_type_must_match_the_config_type(mini_files):
    replace(mini_files, TEMPLATE, "{{RUNTIME:net:subnetIds}}", "{{RUNTIME:net:vpcId}}")
    [problem] = problems_of(mini_files)
    assert problem.code == codes.INVALID_FORMAT
    assert problem.file == TEMPLATE
    assert "gives string but config 'subnetIds' of 'db' is array" in problem.message


def test_template_missing_a_dependency(mini_files):
    replace(mini_files, TEMPLATE, "stacks: [net, sec, db, app]", "stacks: [net, db, app]")
    found = problems_of(mini_files)
    missing = [p for p in found if p.code == codes.MISSING_DEPENDENCY and p.file == TEMPLATE]
    assert missing and "'db' depends on 'sec'" in missing[0].message


def test_duplicate_deployment_ids_are_reported(mini_files):
    mini_files["deployments/D000001-Acme-shop2/manifest.yaml"] = mini_files[MANIFEST].replace(
        "project: shop", "project: shop2"
    )
    found = problems_of(mini_files)
    assert [p.code for p in found] == [codes.DUPLICATE_DEPLOYMENT_ID]


def test_a_deployment_of_any_depth_is_valid_since_one_job_runs_all_its_layers(mini_files):
    chain = []
    for index in range(9):
        deps = f"dependencies: [s{index - 1}]" if index else "dependencies: []"
        mini_files[f"stacks/s{index}/stack.yaml"] = (
            f"name: s{index}\ndisplayName: S\ncategory: compute\n{deps}\n"
        )
        chain.append(f"s{index}")
    mini_files[TEMPLATE] = mini_files[TEMPLATE].replace(
        "stacks: [net, sec, db, app]", f"stacks: [net, sec, db, app, {', '.join(chain)}]"
    )
    assert problems_of(mini_files) == []


ROLE_CASES = [
    pytest.param(
        '  dev: "111111111111"\n',
        "",
        codes.REQUIRED_FIELD,
        "dev: {enabled: true}",
        "no role to deploy it with",
        id="no-account-no-role",
    ),
    pytest.param(
        "dev: {enabled: true}",
        "dev: {enabled: true, roleArn: 'arn:aws:iam::999999999999:role/deployer'}",
        codes.INVALID_ROLE,
        "roleArn",
        "is in account 999999999999, but the environment's account is 111111111111",
        id="deploy-role-in-another-account",
    ),
    pytest.param(
        "dev: {enabled: true}",
        "dev: {enabled: true, planRoleArn: 'arn:aws:iam::999999999999:role/reader'}",
        codes.INVALID_ROLE,
        "planRoleArn",
        "plan role arn:aws:iam::999999999999:role/reader is in account 999999999999",
        id="plan-role-in-another-account",
    ),
    pytest.param(
        "dev: {enabled: true}",
        "dev:\n    enabled: true\n    roleArn: arn:aws:iam::111111111111:role/d\n"
        "    planRoleArn: arn:aws:iam::111111111111:role/d",
        codes.INVALID_ROLE,
        "planRoleArn",
        "is the deploy role",
        id="plan-role-is-the-deploy-role",
    ),
    pytest.param(
        "dev: {enabled: true}",
        "dev: {enabled: true, roleArn: 'arn:aws:iam::111111111111:user/me'}",
        codes.INVALID_FORMAT,
        "roleArn",
        "role ARN must look like",
        id="not-a-role-arn",
    ),
    pytest.param(
        "environments:\n",
        "promotion: [prod, qa]\nenvironments:\n",
        codes.INVALID_ENVIRONMENT,
        "promotion:",
        "'qa' is not an environment of this manifest",
        id="promotion-unknown-environment",
    ),
]


@pytest.mark.parametrize(("old", "new", "code", "line_of", "text"), ROLE_CASES)
def test_each_role_or_promotion_mistake_is_found_where_it_was_made(
    mini_files, old, new, code, line_of, text
):
    replace(mini_files, MANIFEST, old, new)
    found = problems_of(mini_files)
    matching = [p for p in found if p.code == code]
    assert matching, f"no {code} in {[(p.code, p.message) for p in found]}"
    assert matching[0].file == MANIFEST
    assert matching[0].line == line_containing(mini_files, MANIFEST, line_of)
    assert text in matching[0].message


def test_a_role_in_the_manifest_is_enough_without_an_account(mini_files):
    replace(mini_files, MANIFEST, '  dev: "111111111111"\n', "")
    replace(
        mini_files,
        MANIFEST,
        "dev: {enabled: true}",
        "dev: {enabled: true, roleArn: 'arn:aws:iam::444444444444:role/deployer'}",
    )
    assert problems_of(mini_files) == []


def test_more_environments_than_wave_jobs_is_a_problem(mini_files):
    extra = "".join(f"  e{n}: {{enabled: true}}\n" for n in range(4))
    accounts = "".join(f'  e{n}: "55555555555{n}"\n' for n in range(4))
    replace(mini_files, MANIFEST, "  prod: {enabled: false", extra + "  prod: {enabled: false")
    replace(mini_files, MANIFEST, 'prod: "222222222222"\n', 'prod: "222222222222"\n' + accounts)
    [problem] = [p for p in problems_of(mini_files) if p.code == codes.TOO_MANY_WAVES]
    assert problem.file == MANIFEST and "5 enabled environments" in problem.message


@pytest.mark.parametrize("key", ["str", "a[b]", "int"])
def test_keys_that_look_like_pydantic_union_tags_are_reported_not_crashed_on(mini_files, key):
    mini_files[MANIFEST] += f"'{key}': 1\n"
    [problem] = problems_of(mini_files)
    assert problem.code == codes.UNKNOWN_FIELD
    assert problem.message.startswith(f"unknown key {key!r}")
    assert problem.line == line_containing(mini_files, MANIFEST, f"'{key}': 1")


def test_a_stack_cannot_be_called_templates(mini_files):
    mini_files["stacks/templates/stack.yaml"] = mini_files["stacks/app/stack.yaml"].replace(
        "name: app", "name: templates"
    )
    found = problems_of(mini_files)
    assert any("'templates' is reserved" in p.message for p in found), found


def test_a_definition_round_trips_through_its_file_form_with_explicit_defaults():
    definition = StackDefinition.model_validate(
        {
            "name": "app",
            "displayName": "App",
            "category": "compute",
            "configuration": {"banner": {"type": "string", "default": None}},
        }
    )
    again = StackDefinition.model_validate(definition.to_file_dict())
    assert again.configuration["banner"].has_default
    assert again == definition


def test_a_format_error_quotes_the_value_it_got() -> None:
    from pydantic import ValidationError

    from controller.core.models import Manifest

    with pytest.raises(ValidationError) as raised:
        Manifest.model_validate({"version": "3.1", "deploymentId": "bad"})
    message = next(e["msg"] for e in raised.value.errors() if e["loc"] == ("deploymentId",))
    assert message.endswith(", got 'bad'") and "{" not in message
