"""The interagency data-sharing hub for medical-insurance fund supervision.

Subpackages by stage, each importing only those below it (enforced by ``tests/test_layers.py``)::

    cli                      the `hub` command line
    runtime | report         ingress loop and pipeline, jobs, broker, metrics | the weekly report
    sla                      SLA policy, working days, obligations, timer, publisher
    routing                  routing policy, inbox resolution, the pure router
    lifecycle | audit        states and ledger | the hash-chained transfer log
    storage                  SQL engine, deliveries and dead letters
    wire                     Avro contract, codec, envelope, families, topic names
    trust                    addresses, agencies, regions, keys, directory, operators
    core                     settings, errors, time, paths, tables
"""

__version__ = "0.1.0"
