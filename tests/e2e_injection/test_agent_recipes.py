"""The agent image recipes agree with the injection rules; the pod runner resolves env like the kubelet."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.e2e_injection.conftest import agent_tree
from tests.e2e_injection.injection import deployment_pod, inject, record
from tests.e2e_injection.podrunner import PodIdentity, UnsupportedPod, container_env, expand
from toolchain import agents as building
from webhook import rules


@pytest.mark.parametrize("language", building.LANGUAGES)
def test_rules_tag_the_agent_version_the_recipe_pins(language: str) -> None:
    agent = rules.all_rules()[language].agent
    assert agent is not None
    assert agent.image == f"agent-{language}"
    assert agent.version == building.pinned_version(language), (
        f"webhook/languages/{language}.yaml tags the image {agent.version!r}, but "
        f"toolchain/recipes/{language}/ builds {building.pinned_version(language)!r}"
    )


@pytest.mark.parametrize("language", building.LANGUAGES)
def test_dockerfile_runs_build_sh_and_ships_a_non_root_busybox_image(language: str) -> None:
    directory = building.recipe_dir(language)
    dockerfile = (directory / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)(?: AS (\w+))?$", dockerfile, re.MULTILINE)
    assert stages[-1][0].startswith("busybox:"), stages
    assert "RUN ./build.sh /out" in dockerfile
    assert f"COPY --from={stages[0][1]} /out/ /" in dockerfile
    assert dockerfile.rstrip().splitlines()[-1] == "USER 65532:65532"
    copied = {
        name
        for line in re.findall(r"^COPY (?!--from)(.+) \./$", dockerfile, re.MULTILINE)
        for name in line.split()
    }
    recipe_files = {p.name for p in directory.iterdir() if p.is_file() and p.name != "Dockerfile"}
    assert copied == recipe_files, "the builder stage must get exactly the recipe's files"


@pytest.mark.parametrize("language", building.BUILDABLE)
def test_built_tree_has_what_the_rules_copy(language: str) -> None:
    root = agent_tree(language)
    agent = rules.all_rules()[language].agent
    assert agent is not None
    for libc, source in agent.source.items():
        assert (root / source.lstrip("/")).is_dir(), f"{libc}: {source} is missing from the built image tree"
    for path in root.rglob("*"):
        assert path.stat().st_mode & 0o004, f"{path} is not world-readable: the init container runs non-root"


def test_python_pins_are_exact_and_cover_the_wanted_packages() -> None:
    directory = building.recipe_dir("python")
    lines = [
        line for line in (directory / "requirements.txt").read_text().splitlines() if line and line[0] != "#"
    ]
    assert all(re.fullmatch(r"[a-z0-9.-]+==[A-Za-z0-9.+-]+", line) for line in lines), lines
    pinned = {line.split("==")[0] for line in lines}
    wanted = {line.strip() for line in (directory / "requirements.in").read_text().splitlines()}
    assert {w for w in wanted if w and not w.startswith("#")} <= pinned


def test_recipe_digests_are_stable_and_distinct() -> None:
    before = building.recipe_digest("java")
    assert before == building.recipe_digest("java")
    assert len({building.recipe_digest(lang) for lang in building.LANGUAGES}) == len(building.LANGUAGES)


def test_expand_follows_kubernetes_rules() -> None:
    defined = {"POD": "web-1", "IP": "10.0.0.7"}
    assert expand("http://$(IP):4318", defined) == "http://10.0.0.7:4318"
    assert expand("$(MISSING)/x", defined) == "$(MISSING)/x"
    assert expand("$$(POD)", defined) == "$(POD)"
    assert expand("$$$(POD)", defined) == "$web-1"
    assert expand("a$(POD", defined) == "a$(POD"
    assert expand("$x $", defined) == "$x $"
    assert expand("$(POD)$(IP)", defined) == "web-110.0.0.7"


def test_container_env_resolves_downward_api_and_only_earlier_references() -> None:
    ident = PodIdentity("web-1", "shop", "uid-1", "node-a", "10.0.0.7", "10.1.0.3")
    pod = {"metadata": {"labels": {"app": "web"}}}
    env = container_env(
        pod,
        {
            "env": [
                {"name": "LATE_REF", "value": "$(IP)"},
                {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
                {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                {"name": "URL", "value": "http://$(IP):4318/$(APP)"},
            ]
        },
        ident,
    )
    assert env["LATE_REF"] == "$(IP)"  # defined later: the kubelet leaves it verbatim
    assert env["URL"] == "http://10.0.0.7:4318/web"
    with pytest.raises(UnsupportedPod):
        container_env(
            pod, {"env": [{"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}, ident
        )


@pytest.mark.parametrize("language", building.LANGUAGES)
def test_explain_prints_the_pod_the_runner_runs(language: str, tmp_path: Path) -> None:
    """`hodegos explain -o yaml` shows the same mutated pod that the contract tests run."""
    pod = deployment_pod(
        f"shop-{language}",
        [
            {
                "name": "app",
                "image": f"shop/{language}-app:1",
                "command": ["run"],
                "env": [{"name": "A", "value": "1"}],
            }
        ],
    )
    rec = record(f"shop-{language}", [{"name": "app", "language": language, "runtimeVersion": "1"}])
    (tmp_path / "pod.yaml").write_text(yaml.safe_dump(pod))
    (tmp_path / "record.yaml").write_text(
        yaml.safe_dump(rec.model_dump(mode="json", by_alias=True, exclude_none=True))
    )
    hodegos = Path(sys.executable).parent / "hodegos"
    done = subprocess.run(
        [
            str(hodegos),
            "explain",
            "-f",
            str(tmp_path / "pod.yaml"),
            "--record",
            str(tmp_path / "record.yaml"),
            "-o",
            "yaml",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    mutated, _ = inject(pod, rec)
    assert yaml.safe_load(done.stdout)["pod"] == mutated
