"""The ingress pipeline: every record read from ``hub.ingress``, from bytes to an outcome.

    decide (pure router) → deliver to the inbox, or dead-letter → record in the store → audit

Each step is a small object with one job (:mod:`.decide`, :mod:`.inbox`, :mod:`.deadletters`,
:mod:`.recorder`, :mod:`.audit`), all built in one place (:func:`.build.build_pipeline`) and
driven by :class:`.pipeline.IngressPipeline`.  They write through a :class:`.producer.Producer`,
so the whole pipeline runs against :class:`.producer.InMemoryProducer` in a unit test and
against aiokafka's producer (``hub.runtime.kafka_clients``) in a running hub.
"""
