"""The commented shipyard.yaml that ``shipyard init`` writes."""

from __future__ import annotations

TEMPLATE = """\
# shipyard.yaml: how Shipyard builds, runs and deploys this app.
# Every key is documented in docs/configuration.md. Durations: 500ms, 2s, 10m, 1h.
app: {app}
source: .                      # folder snapshotted into each release

build:
  requirements: requirements.txt   # installed with uv into the release's venv (cached by hash)
  commands: []                     # extra build commands, run with the venv active

processes:
  web:
    # must serve HTTP on 127.0.0.1:$PORT; Shipyard gives each instance its own $PORT
    command: uvicorn app:app --host 127.0.0.1 --port $PORT
    instances: 1

health:
  path: /health                # 200 = healthy
  interval: 1s
  timeout: 2s
  healthy_threshold: 2         # successes in a row before traffic may go to an instance
  unhealthy_threshold: 3       # failures in a row before a healthy instance counts as down
  start_timeout: 60s           # a new instance must be healthy within this
  # restart_after: 30s        # replace an instance that stays alive but fails this long

smoke:                         # checked on every new instance before it gets traffic
  - path: /
    expect_status: 200

strategy:
  blue_green:
    drain_timeout: 30s         # wait for in-flight requests on the old colour
    rollback_window: 10m       # old colour keeps running this long: instant rollback
    stop_timeout: 10s          # SIGTERM, then SIGKILL after this
    max_restarts: 3            # crashes tolerated during a deploy
  # Or a canary rollout, judged on the new version's own error rate and latency:
  # canary:
  #   steps: [10, 25, 50, 100]   # percent of requests on the new version
  #   interval: 30s              # each step is watched this long (one check)
  #   analysis:
  #     error_rate: {{max: 1%}}
  #     latency_p99: {{max: 5s}}
  #     min_requests: 50         # fewer in a check: no data (see no_data)
  #   pause_at: [50]             # wait for `shipyard rollout promote` here

# notifications:
#   webhook: https://example.com/hooks/shipyard   # JSON POST on rollback / promotion

env: {{}}                        # variables for every environment, passed as they are

# Configuration, layered: `config` (every environment), then environments.<name>.config, then
# the control plane's own SHIPYARD_CONFIG_<ENV>_<KEY> variables. #{{Name}}# takes another key or a
# secret (`shipyard secrets set ENV Name`). See it with `shipyard config show ENV`.
config:
  LOG_LEVEL: info
# config_schema:                 # checked before every deployment
#   DATABASE_URL: {{required: true, type: url}}

environments:
  dev:
    port: 8080
    config:
      LOG_LEVEL: debug
  test:
    port: 8081
  staging:
    port: 8082
  production:
    port: 8083
    instances: 2
    approval:                  # deployments wait for an approver other than the requester
      required: true
      expires: 24h

# `shipyard promote RELEASE --to ENV` deploys the same release to the next environment;
# it must have succeeded in the environment before it.
promotion:
  path: [dev, test, staging, production]
  require_previous: true
"""


def render_template(app: str) -> str:
    return TEMPLATE.format(app=app)
