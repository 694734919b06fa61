"""The README's two set-up commands stay true: .ci/run runs exactly the second one."""

import re

from tests.conftest import ROOT


def readme_commands():
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    cmds = []
    for b in blocks[:2]:
        lines = [l for l in b.splitlines() if l.strip() and not l.startswith("#")]
        assert len(lines) == 1, b
        cmds.append(lines[0])
    return cmds


def test_ci_runs_the_readme_test_command():
    install_and_run, install_and_test = readme_commands()
    ci = [l for l in (ROOT / ".ci/run").read_text().splitlines() if l.strip() and not l.startswith(("#", "set ", "cd "))]
    assert ci == [install_and_test]
    assert "pytest" in install_and_test and "autoloop run" in install_and_run
