-- Captured from the stores' code at commit 20917b4 (before Alembic), SQLite: the schema
-- that code created and rows as it wrote them. tests/test_migrations.py upgrades it.
CREATE TABLE cds_feedback (
        feedback_key             TEXT PRIMARY KEY,
        service_id               TEXT NOT NULL,
        card_uuid                TEXT NOT NULL,
        rule_id                  TEXT,
        outcome                  TEXT NOT NULL CHECK (outcome IN ('accepted', 'overridden')),
        accepted_suggestion_ids  TEXT NOT NULL,
        override_system          TEXT,
        override_code            TEXT,
        override_display         TEXT,
        user_comment_given       BOOLEAN NOT NULL,
        outcome_timestamp        TEXT NOT NULL,
        received_at              TEXT NOT NULL
    );
INSERT INTO "cds_feedback" VALUES('1b398dce8314c28b79e668740241efff7c483bcfc5968577f819813cae036e1d','her2-nsclc-order-sign','card-tdxd','tdxd-second-line','accepted','["sugg-a"]',NULL,NULL,NULL,0,'2026-11-21T09:30:00.000000+00:00','2026-11-29T14:35:02.576818+00:00');
INSERT INTO "cds_feedback" VALUES('2d1b5275f2ffd65a319778b042bfd312ab300c07f85e935665af7f1e2f7e78f3','her2-nsclc-order-sign','card-ild','ild-monitor','overridden','[]','urn:x','c','D',1,'2026-11-21T09:31:00.000000+00:00','2026-11-29T14:35:02.576818+00:00');
CREATE TABLE cds_issued_card (
        service_id  TEXT NOT NULL,
        card_uuid   TEXT NOT NULL,
        rule_id     TEXT NOT NULL,
        issued_at   TEXT NOT NULL,
        PRIMARY KEY (service_id, card_uuid)
    );
INSERT INTO "cds_issued_card" VALUES('her2-nsclc-order-sign','card-ild','ild-monitor','2026-11-29T14:35:02.576520+00:00');
INSERT INTO "cds_issued_card" VALUES('her2-nsclc-order-sign','card-tdxd','tdxd-second-line','2026-11-29T14:35:02.576520+00:00');
CREATE TABLE cds_seen_jti (
        jti_key     TEXT PRIMARY KEY,
        expires_at  DOUBLE PRECISION NOT NULL
    );
INSERT INTO "cds_seen_jti" VALUES('9ac62a79f515ef90f355d3dfa89b8b33981ea383409a2008a6242ee960b72d7d',4102444800.0);
