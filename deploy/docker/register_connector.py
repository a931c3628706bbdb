"""Register (create or update) a Kafka Connect connector from a JSON file and wait until it runs.

    python register_connector.py deploy/connect/crmflow-outbox.json [--timeout 180]

The entry point of the docker-compose one-shot and the Helm job (the image has it at
/opt/crmflow/register_connector.py); the work is crmflow.connector_registration's, which
``crmflow connector register`` and ``deploy/local/stack.sh register`` run too.
"""

import sys

from crmflow.connector_registration import main

if __name__ == "__main__":
    sys.exit(main())
