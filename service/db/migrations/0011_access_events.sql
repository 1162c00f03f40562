-- Usage tracking (issue 5): raw access events plus the rollups /stats reads.
--
-- The recorder (service/events.py) writes a batch in one transaction: COPY into access_events,
-- then adds the batch's counts to access_rollup and access_file_daily. /stats never scans raw
-- events: a year of traffic is a few thousand rollup rows.

CREATE TABLE access_events (
    at       timestamptz NOT NULL,
    file_id  uuid NOT NULL,              -- no foreign key: history outlives deleted files
    action   text NOT NULL CHECK (action IN ('content', 'metadata')),
    user_id  text,                       -- X-Silo-User
    role_id  integer,                    -- X-Silo-Role, resolved (roles.id); no FK, as above
    country  text,                       -- X-Silo-Country (ISO 3166-1 alpha-2)
    company  text,                       -- X-Silo-Company
    language text,                       -- the file's language at access time
    key_id   text                        -- the API key that made the request
);
-- Append-only and written in time order: a BRIN index serves time-range scans at ~no cost.
CREATE INDEX access_events_at_brin ON access_events USING brin (at);

-- Counts per period and dimension. grain 'd': period is a UTC day; 'w': the Monday of an ISO
-- week; 'm': the first day of a UTC month. A range reads whole months, then whole weeks of
-- what is left at its edges, then single days (at most 6 at each end of each edge).
-- dim: 'total' (key ''), 'country', 'company', 'role' (key = roles.id), 'language'; key '' means
-- "not given".
CREATE TABLE access_rollup (
    grain  "char" NOT NULL CHECK (grain IN ('d', 'w', 'm')),
    action text NOT NULL,
    dim    text NOT NULL,
    period date NOT NULL,
    key    text NOT NULL,
    n      bigint NOT NULL,
    -- n rides in the index: /stats reads a range with an index-only scan, no heap visits.
    PRIMARY KEY (grain, action, dim, period, key) INCLUDE (n)
);

-- Downloads (action 'content') per file and UTC day: the top-files query reads each day's
-- leaders through (day, n DESC) and exact sums for the candidates through the primary key.
CREATE TABLE access_file_daily (
    file_id uuid NOT NULL,
    day     date NOT NULL,
    n       bigint NOT NULL,
    PRIMARY KEY (file_id, day)
);
CREATE INDEX access_file_daily_leaders ON access_file_daily (day, n DESC);
