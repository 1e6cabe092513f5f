"""LocalApp: the template's app on a running moto server (data resources, functions, event sources, API)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infra.localcloud.functions import FunctionHost, Resolver, aws_client, discover_functions
from infra.localcloud.gateway import Gateway, discover_apis
from infra.localcloud.runner import Runner
from infra.localcloud.template import Template, deploy_data_resources


class LocalApp:
    """Deploys `template`'s data resources into moto and serves its functions, event sources and API.

    `base_dir` is the folder CodeUri is relative to (the template's folder). `api_port=0` picks a free
    port. `speed` divides schedule intervals and batching windows, for demos and tests.
    """

    def __init__(
        self,
        template: Template,
        endpoint_url: str,
        *,
        stack_name: str = "kith-local",
        base_dir: Path | None = None,
        api_port: int | None = 0,
        api_port_variable: str = "KITH_API_PORT",
        speed: float = 1.0,
        fire_schedules_at_start: bool = True,
        schedules_enabled: bool = True,
        poll_interval: float = 0.1,
        retry_base_delay: float = 0.2,
        extra_environment: dict[str, str] | None = None,
        interactive_endpoint_url: str | None = None,
    ) -> None:
        self.template = template
        self.endpoint_url = endpoint_url
        self.interactive_endpoint_url = interactive_endpoint_url
        self.extra_environment = dict(extra_environment or {})
        self.stack_name = stack_name
        self.base_dir = base_dir
        self.api_port = api_port
        self.api_port_variable = api_port_variable
        self.speed = speed
        self.fire_schedules_at_start = fire_schedules_at_start
        self.schedules_enabled = schedules_enabled
        self.poll_interval = poll_interval
        self.retry_base_delay = retry_base_delay
        self.physical: dict[str, str] = {}
        self.resolver: Resolver | None = None
        self.host: FunctionHost | None = None
        self.runner: Runner | None = None
        self.gateway: Gateway | None = None

    def deploy(self) -> LocalApp:
        self.physical = deploy_data_resources(self.template, self.endpoint_url, stack_name=self.stack_name)
        self.resolver = Resolver(self.template, self.physical, self.endpoint_url, stack_name=self.stack_name)
        specs = discover_functions(self.template, self.resolver, base_dir=self.base_dir)
        behind_the_api = {
            function
            for api in discover_apis(self.template, self.resolver)
            for route in api.routes
            for function in (route.function, route.authorizer.function if route.authorizer else None)
            if function
        }
        self.host = FunctionHost(
            specs,
            self.endpoint_url,
            extra_environment=self.extra_environment,
            interactive_endpoint_url=self.interactive_endpoint_url,
            interactive_functions=behind_the_api,
        )
        return self

    def start(self) -> LocalApp:
        """Deploy (if not yet), then start the event sources and the API gateway."""
        if self.host is None:
            self.deploy()
        assert self.resolver is not None and self.host is not None
        self.runner = Runner(
            self.template,
            self.resolver,
            self.host,
            speed=self.speed,
            poll_interval=self.poll_interval,
            retry_base_delay=self.retry_base_delay,
            fire_schedules_at_start=self.fire_schedules_at_start,
            schedules_enabled=self.schedules_enabled,
        )
        apis = discover_apis(self.template, self.resolver)
        if self.api_port is not None and apis:
            self.gateway = Gateway(apis[0], self.host, self.api_port, port_variable=self.api_port_variable)
            self.gateway.start()
        try:
            self.runner.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.gateway is not None:
            self.gateway.stop()
        if self.runner is not None:
            self.runner.stop()

    def drain(self, timeout: float = 60.0, include_retries: bool = True) -> None:
        if self.runner is None:
            raise RuntimeError("start the app before draining it")
        self.runner.drain(timeout, include_retries)

    @property
    def url(self) -> str:
        if self.gateway is None:
            raise RuntimeError("the API gateway is not running")
        return self.gateway.url

    def client(self, service: str) -> Any:
        return aws_client(service, self.endpoint_url)

    def __enter__(self) -> LocalApp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
