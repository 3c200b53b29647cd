{#-
  marts carry no PII: customer_key is a keyed hash of the 1C customer ref. The key is generated once inside the
  warehouse (schema ops, which BI cannot read) so it is in no file, log or env; nested sha256 avoids length extension.
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

{% macro customer_key(customer_ref) -%}
    encode(sha256(convert_to(
        (select s.secret from ops.customer_key_secret as s)
        || encode(sha256(convert_to((select s.secret from ops.customer_key_secret as s) || {{ customer_ref }}, 'UTF8')), 'hex'),
        'UTF8'
    )), 'hex')
{%- endmacro %}
