-- Roles for a hub whose stores live in PostgreSQL (docs/threat-model.md, "the hub's own tools").
--
-- hub_owner owns the tables and runs the migrations (`hub audit migrate`, and the first start of
-- a hub, which creates its store); nobody runs the hub as hub_owner.  The hub runs as {app}: it
-- may read and write its working tables, may only read and append to the audit log, and has no
-- DDL, no TRUNCATE and no DELETE on the log.  Replace {app} with the role the hub connects as
-- (tests/storage/test_postgres_roles.py applies this very file).

REVOKE CREATE ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {app};

-- The hub's working store: deliveries, dead letters, the ledger, SLA outbox, redelivery, the
-- rows of document chunks.
GRANT SELECT, INSERT, UPDATE, DELETE ON
    deliveries, dead_letters, ledger, obligations, ledger_events, sla_events, redeliverable,
    document_chunks, board_totals, officers, console_sessions
    TO {app};

-- The router's audit facts (hub.storage.audit_facts): written with each outcome, read and then
-- deleted by the audit sink once the log has them.  A row is believed only with the audit MAC,
-- so INSERT here is not the power to put a fact into the log (docs/threat-model.md).
GRANT SELECT, INSERT, DELETE ON audit_facts TO {app};
GRANT USAGE ON SEQUENCE audit_facts_id_seq TO {app};

-- Who runs each job that must run once (hub.storage.leases): taken and renewed by update.
GRANT SELECT, INSERT, UPDATE ON job_leases TO {app};

-- Tree heads sent to the agencies, and the agencies' cosignatures of them (kept, never changed).
GRANT SELECT, INSERT, UPDATE ON tree_heads TO {app};
GRANT SELECT, INSERT ON tree_head_cosignatures TO {app};

-- The transfer log: read and append, nothing else (its triggers refuse UPDATE and DELETE too).
GRANT SELECT, INSERT ON audit_log, audit_checkpoints, audit_meta, audit_timestamps TO {app};
GRANT SELECT ON audit_schema_version TO {app};
-- The tree's full tiles (hub.audit.tiles): derived from the log, written once, never changed.
GRANT SELECT, INSERT ON audit_tiles TO {app};
-- Archived months and the hashes of pruned records: read by the hub, written only by the owner
-- (`hub audit prune --url` as hub_owner), the one role whose DELETE the log's guard lets through.
GRANT SELECT ON audit_archives, audit_pruned TO {app};
