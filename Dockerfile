# Airflow 3.3 with airflow-provider-amplify, Node.js 22 and the pinned Amplify Gen 2 CLI (ampx).
#
#   docker build -t airflow-provider-amplify:3.3.2 .                             # production image
#   docker build --build-arg PROVIDER_EXTRAS=testing -t airflow-provider-amplify:3.3.2 .   # + the local AWS world
#
# docker-compose.yaml builds it with PROVIDER_EXTRAS=testing so its `world` profile can run the local
# AWS world (`python -m airflow_amplify.testing serve`) from the same image.
#
# The versions here must agree with requirements/lock-airflow-3.3.txt, scripts/install-ampx,
# airflow_amplify/hooks/ampx.py and README.md: tests/test_deployment.py checks that they do.

# The official Airflow image; the -python3.11 tag matches the Python the lock file was resolved for.
ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11
# Node.js comes from the official Node image: the same release tarball nodejs.org publishes, with its
# signature checked when that image was built, for every architecture the Airflow image has.
ARG NODE_IMAGE=node:22.23.0-bookworm-slim

FROM ${NODE_IMAGE} AS node

FROM ${AIRFLOW_IMAGE}

# @aws-amplify/backend-cli: the version DEFAULT_AMPX_VERSION in airflow_amplify/hooks/ampx.py names.
ARG AMPX_VERSION=1.10.0
# Extras of the provider to install: "" for production, "testing" for the local AWS world.
ARG PROVIDER_EXTRAS=""

USER root

# Node.js and npm (node is one binary; npm and npx are scripts in its node_modules).
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/npm
RUN ln -sf ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
    && ln -sf ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
    && node --version \
    && npm --version

# ampx, installed once into /opt/ampx (read-only for the task user). DAGs use it with
# ampx_path="/usr/local/bin/ampx"; a project whose package.json has @aws-amplify/backend-cli uses its own
# node_modules/.bin/ampx after `npm ci`, as the operator does by default.
RUN npm install --global --prefix /opt/ampx --no-audit --no-fund --loglevel=error \
        "@aws-amplify/backend-cli@${AMPX_VERSION}" "tsx@4" \
    && ln -sf /opt/ampx/bin/ampx /usr/local/bin/ampx \
    && npm cache clean --force \
    && test "$(npm_config_user_agent="npm/10 node/v22" ampx --version)" = "${AMPX_VERSION}"

# Python packages are installed as the airflow user, as the official image requires.
USER airflow

COPY --chown=airflow:0 requirements/lock-airflow-3.3.txt /opt/airflow-provider-amplify/requirements/
COPY --chown=airflow:0 setup.cfg pyproject.toml README.md /opt/airflow-provider-amplify/
COPY --chown=airflow:0 airflow_amplify /opt/airflow-provider-amplify/airflow_amplify

# The lock file as constraints: the provider's dependencies (amazon provider, boto3, aiobotocore, moto for
# the world ...) at exactly the versions the test suite ran with. apache-airflow stays pinned to the
# image's own version ($AIRFLOW_VERSION, set by the base image) so pip never moves Airflow itself.
# `pip check` fails the build when a pin conflicts with another provider the base image ships.
RUN pip install --no-cache-dir \
        --constraint /opt/airflow-provider-amplify/requirements/lock-airflow-3.3.txt \
        "apache-airflow==${AIRFLOW_VERSION}" \
        "/opt/airflow-provider-amplify${PROVIDER_EXTRAS:+[${PROVIDER_EXTRAS}]}" \
    && pip check \
    && python -c "import airflow_amplify; print(airflow_amplify.get_provider_info()['package-name'], airflow_amplify.__version__)"
