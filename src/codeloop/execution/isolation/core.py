"""`Isolation`: prepare every layer once in the zygote, apply them in each forked child."""

from __future__ import annotations

import os
from dataclasses import dataclass

from codeloop.execution.isolation.config import (
    LAYER_NAMES,
    IsolationConfig,
    IsolationError,
    IsolationReport,
    Layer,
)
from codeloop.execution.isolation.credentials import drop_to, prepare_uid, rlimits_layer
from codeloop.execution.isolation.kernel import PR_SET_NO_NEW_PRIVS, checked_prctl, describe
from codeloop.execution.isolation.landlock import LandlockPlan, plan_landlock
from codeloop.execution.isolation.netns import prepare_netns
from codeloop.execution.isolation.seccomp import SeccompProgram, build_seccomp_program


@dataclass(frozen=True)
class _Prepared:
    report: IsolationReport
    drop_uid: bool
    landlock: LandlockPlan | None
    seccomp: SeccompProgram | None
    no_new_privs_inherited: bool  # set in the zygote: children need not set it again


class Isolation:
    """Prepare once in the zygote; apply in every forked child before untrusted code runs."""

    def __init__(self, config: IsolationConfig) -> None:
        self._config = config
        self._prepared: _Prepared | None = None

    @property
    def config(self) -> IsolationConfig:
        return self._config

    @property
    def report(self) -> IsolationReport | None:
        return None if self._prepared is None else self._prepared.report

    @property
    def drops_uid(self) -> bool:
        """Whether children run as uid_base + slot (known after prepare_zygote); the zygote
        must then chown each work dir to `uid_for(slot)`."""
        return self._prepared is not None and self._prepared.drop_uid

    def uid_for(self, slot: int) -> int:
        if not 0 <= slot < self._config.uid_count:
            raise IsolationError(f"slot {slot} outside 0..{self._config.uid_count - 1}")
        return self._config.uid_base + slot

    def prepare_zygote(self) -> IsolationReport:
        """Set up what children will inherit; report what will be in force. Never raises
        for an unavailable layer. Call once, in the zygote, before forking children: it
        moves the calling process into an empty network namespace (where it can) and sets
        no_new_privs on it, for good."""
        if self._prepared is not None:
            return self._prepared.report
        config = self._config
        layers: dict[str, Layer] = {}
        read_only = [p for p in dict.fromkeys(config.read_only_paths) if os.path.exists(p)]
        missing_paths = [p for p in config.read_only_paths if p not in read_only]

        drop_uid, uid_layer, read_only = prepare_uid(config, read_only)
        layers["uid"] = uid_layer
        layers["rlimits"] = rlimits_layer(drop_uid)
        layers["no_new_privs"] = Layer(
            "no_new_privs",
            True,
            "PR_SET_NO_NEW_PRIVS (set in the zygote, inherited by every child) before "
            "Landlock and seccomp: setuid binaries and file capabilities grant nothing",
        )

        landlock_plan: LandlockPlan | None = None
        if not config.use_landlock:
            layers["landlock"] = Layer("landlock", False, "disabled by config")
        else:
            try:
                landlock_plan, detail = plan_landlock(read_only)
                if missing_paths:
                    detail += f"; absent, not granted: {', '.join(missing_paths)}"
                layers["landlock"] = Layer("landlock", True, detail)
            except Exception as exc:
                layers["landlock"] = Layer("landlock", False, f"unavailable: {describe(exc)}")

        seccomp_program: SeccompProgram | None = None
        if not config.use_seccomp:
            layers["seccomp"] = Layer("seccomp", False, "disabled by config")
        else:
            try:
                seccomp_program, detail = build_seccomp_program()
                layers["seccomp"] = Layer("seccomp", True, detail)
            except Exception as exc:
                layers["seccomp"] = Layer("seccomp", False, f"unavailable: {describe(exc)}")

        layers["netns"] = prepare_netns(config)

        # Once here rather than in every child (a prctl through ctypes cost a fresh fork
        # ~90 us of CPU): it is inherited across fork and can never be unset.  The zygote
        # execs nothing, so it loses nothing by it.
        try:
            checked_prctl(PR_SET_NO_NEW_PRIVS, 1)
            inherited = True
        except OSError:
            inherited = False  # each child sets it (and fails the run if it cannot)
        report = IsolationReport(tuple(layers[name] for name in LAYER_NAMES))
        self._prepared = _Prepared(report, drop_uid, landlock_plan, seccomp_program, inherited)
        return report

    def workdir_ruleset(self, workdir: str) -> int | None:
        """The Landlock ruleset for children working in `workdir` (a descriptor the
        caller closes), or None where Landlock is not in force.  Raises OSError."""
        prepared = self._prepared
        if prepared is None or prepared.landlock is None:
            return None
        return prepared.landlock.ruleset(workdir)

    def apply_in_child(self, workdir: str, slot: int, ruleset: int | None = None) -> None:
        """Lock down this (forked, still privileged) child. Raises IsolationError.

        `ruleset`: `workdir_ruleset(workdir)`, made before the fork; None builds it here."""
        prepared = self._prepared
        if prepared is None:
            raise IsolationError("apply_in_child before prepare_zygote")
        step = "uid"
        try:
            if prepared.drop_uid:
                ident = self.uid_for(slot)
                drop_to(ident, ident)
            if not prepared.no_new_privs_inherited:
                step = "no_new_privs"
                checked_prctl(PR_SET_NO_NEW_PRIVS, 1)
            if prepared.landlock is not None:
                step = "landlock"
                if ruleset is None:
                    prepared.landlock.apply(workdir)
                else:
                    prepared.landlock.enforce(ruleset)
            if prepared.seccomp is not None:
                step = "seccomp"
                prepared.seccomp.load()
        except IsolationError:
            raise
        except Exception as exc:
            raise IsolationError(f"{step}: {describe(exc)}") from exc
