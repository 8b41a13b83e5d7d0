-- The demo database agents reach through the gateway's postgres connection: synthetic customers, payments
-- and API keys, made with a fixed seed so every run has the same rows. {{agent_role}} is the login the
-- gateway uses (created here without a password; the caller sets one from its secrets).
DROP SCHEMA IF EXISTS demo CASCADE;
CREATE SCHEMA demo;

CREATE TABLE demo.customers (
    id         int PRIMARY KEY,
    name       text NOT NULL,
    email      text NOT NULL,
    phone      text,
    country    text,
    ssn        text,
    created_at timestamptz NOT NULL
);
CREATE TABLE demo.payments (
    id          int PRIMARY KEY,
    customer_id int NOT NULL REFERENCES demo.customers (id),
    card_number text NOT NULL,
    amount      numeric(10, 2) NOT NULL,
    paid_at     timestamptz NOT NULL
);
CREATE TABLE demo.api_keys (
    id     int PRIMARY KEY,
    owner  text NOT NULL,
    key_id text NOT NULL,
    secret text NOT NULL
);

SELECT setseed(0.42);

INSERT INTO demo.customers
SELECT n,
       (ARRAY['Ada','Grace','Alan','Edsger','Barbara','Donald','Margaret','Ken'])[1 + floor(random() * 8)::int] || ' ' ||
       (ARRAY['Lovelace','Hopper','Turing','Dijkstra','Liskov','Knuth','Hamilton','Thompson'])[1 + floor(random() * 8)::int],
       'customer' || n || '@example.com',
       '+31 6 ' || lpad(floor(random() * 100000000)::int::text, 8, '0'),
       (ARRAY['NL','DE','FR','GB','US'])[1 + floor(random() * 5)::int],
       lpad((100 + floor(random() * 500))::int::text, 3, '0') || '-' || lpad((10 + floor(random() * 89))::int::text, 2, '0')
           || '-' || lpad((1000 + floor(random() * 8999))::int::text, 4, '0'),
       timestamptz '2026-01-01 00:00:00+00' + n * interval '1 day'
FROM generate_series(1, 50) AS n;

-- Well-known test card numbers (they pass the Luhn check).
INSERT INTO demo.payments
SELECT n,
       1 + floor(random() * 50)::int,
       (ARRAY['4111111111111111','5555555555554444','378282246310005','6011111111111117'])[1 + (n % 4)],
       round((5 + random() * 495)::numeric, 2),
       timestamptz '2026-02-01 00:00:00+00' + n * interval '7 hours'
FROM generate_series(1, 100) AS n;

INSERT INTO demo.api_keys
SELECT n,
       'service-' || n,
       'AKIA' || upper(substr(md5(random()::text), 1, 16)),
       substr(md5(random()::text) || md5(random()::text), 1, 40)
FROM generate_series(1, 5) AS n;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{{agent_role}}') THEN
        CREATE ROLE "{{agent_role}}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
    END IF;
END $$;
GRANT USAGE ON SCHEMA demo TO "{{agent_role}}";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA demo TO "{{agent_role}}";
