"""Which limits a request answers to: the job's, else its deck's, else the config file's host table, else its
defaults."""

from __future__ import annotations

from runner.config.user_config import UserConfig
from runner.engine.admission import Admission
from runner.hosts.gate import HostGate, host_of
from runner.model import FetchSpec, HostLimits, Job, JobSpec, Kind, Settings

CONFIG = UserConfig(
    defaults=HostLimits(host_limit=8, interval=1.0, bandwidth=100.0),
    hosts={"example.com": HostLimits(host_limit=6), "example.com:8080": HostLimits(interval=0.5)},
)


def limits(job_limits: HostLimits | None, deck_limits: HostLimits, url: str) -> HostLimits:
    work = FetchSpec(url=url, host_limits=job_limits)
    job = Job(id="d/j", deck="d", spec=JobSpec(name="j", kind=Kind.FETCH, work=work))
    where = host_of(url)
    assert where is not None
    gate = HostGate(f"{where[0]}:{where[1]}", CONFIG.host_limits(*where))
    return Admission._limits(job, Settings(name="d", host_limits=deck_limits), gate)


def test_job_over_deck_over_host_table_over_defaults() -> None:
    nothing = HostLimits()
    assert limits(None, nothing, "http://other.org/") == HostLimits(8, 1.0, 100.0)
    assert limits(None, nothing, "https://EXAMPLE.com/x") == HostLimits(6, 1.0, 100.0)
    assert limits(None, nothing, "http://example.com:8080/") == HostLimits(6, 0.5, 100.0)
    assert limits(None, HostLimits(host_limit=3), "http://example.com:8080/") == HostLimits(3, 0.5, 100.0)
    job = HostLimits(host_limit=1, interval=0.1)
    assert limits(job, HostLimits(host_limit=3, interval=2.0), "http://example.com:8080/") == HostLimits(1, 0.1, 100.0)


def test_the_host_is_host_and_port_with_the_schemes_default() -> None:
    assert host_of("https://Example.com/a") == ("example.com", 443)
    assert host_of("http://example.com/a") == ("example.com", 80)
    assert host_of("http://127.0.0.1:8080/") == ("127.0.0.1", 8080)
    assert host_of("not a url") is None
