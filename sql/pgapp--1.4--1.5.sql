\echo Use "ALTER EXTENSION pgapp UPDATE TO '1.5'" to load this file. \quit

-- pgapp 1.5: the findings of session 9's audits.  Each section below
-- restates, as released, the objects that 1.5 changes in sql/pgapp/.
