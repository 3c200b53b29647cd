{#-
  marts carry no PII: customer_key and owner_key are keyed hashes (of the 1C customer ref, the case owner's e-mail).
  The key is generated once inside the warehouse (schema ops, which BI cannot read) so it is in no file, log or env;
  nested sha256 avoids length extension.
-#}
{% macro ensure_customer_key_secret() -%}
    create schema if not exists ops;
    create table if not exists ops.customer_key_secret (
        id boolean primary key default true check (id),
        secret text not null
    );
    insert into ops.customer_key_secret (secret)
    select replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '')
    on conflict (id) do nothing;
{%- endmacro %}

{#- The pseudonym of a person in the marts (a customer's 1C ref, a case owner's e-mail): keyed, so not guessable. -#}
{% macro pseudonym(value) -%}
    encode(sha256(convert_to(
        (select s.secret from ops.customer_key_secret as s)
        || encode(sha256(convert_to((select s.secret from ops.customer_key_secret as s) || {{ value }}, 'UTF8')), 'hex'),
        'UTF8'
    )), 'hex')
{%- endmacro %}
