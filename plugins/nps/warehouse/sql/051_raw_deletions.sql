-- Delivery records are deleted from raw when they vanish from 1C (nps.extract, on_vanish='delete'). A deletion leaves
-- no row for an incremental model to find by load time, so every deletion, by the loader or by hand, is kept here
-- (a trigger, so no writer can skip it): int_purchases rebuilds the purchases that still show such a delivery
-- instead of comparing all its purchases with all deliveries every night.

create table if not exists raw.onec_deliveries_deleted (
    order_ref   text not null,                  -- Заказ_Key of the deleted record
    deleted_at  timestamptz not null default now()
);
create index if not exists onec_deliveries_deleted_order_idx on raw.onec_deliveries_deleted (order_ref);

create or replace function raw.keep_deleted_delivery() returns trigger language plpgsql as $$
begin
    insert into raw.onec_deliveries_deleted (order_ref) values (old.order_ref);
    return old;
end
$$;

drop trigger if exists onec_deliveries_keep_deleted on raw.onec_deliveries;
create trigger onec_deliveries_keep_deleted after delete on raw.onec_deliveries
    for each row execute function raw.keep_deleted_delivery();
