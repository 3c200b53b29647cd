"""Import the dashboard bundle into Superset, overwriting every database, dataset, chart and dashboard it holds, then
give each regional manager a login that sees only their oblasts.

Run by `nps bi setup` with .venv-bi's Python: `python bi/import_assets.py BUNDLE.zip USERNAME [ACCESS.json]`.
Superset's `import-dashboards` command never updates charts or datasets that exist already, so an edit of
bi/dashboard.yaml would not show; the assets import (what `/api/v1/assets/import/` runs) treats the bundle as the
source of truth. ACCESS.json (written by nps.bi.access) names the datasets, the regional ones and the managers.
"""

import json
import sys
import uuid
import zipfile


def grant_managers(access: dict) -> None:
    """Role `NPS viewer` = read on the dashboard's datasets; per manager a login (Gamma + that role + a role of their
    own) and a row-level-security filter `region in (...)` on every regional dataset. Idempotent: a manager no longer
    in the seed is deactivated and loses their filter, so nobody keeps a login that sees every oblast."""
    from superset import db, security_manager
    from superset.connectors.sqla.models import RowLevelSecurityFilter, SqlaTable
    from superset.utils.core import RowLevelSecurityFilterType

    def datasets(uuids: list[str]) -> list[SqlaTable]:
        return db.session.query(SqlaTable).filter(SqlaTable.uuid.in_([uuid.UUID(u) for u in uuids])).all()

    viewer = security_manager.add_role(access["viewer_role"])
    viewer.permissions = [security_manager.add_permission_view_menu("datasource_access", table.perm)
                          for table in datasets(access["datasets"])]
    gamma = security_manager.find_role("Gamma")
    regional = datasets(access["regional_datasets"])
    prefix = access["manager_role_prefix"]
    current = set()
    for manager in access["managers"]:
        own = security_manager.add_role(prefix + manager["username"])
        current.add(own.name)
        user = security_manager.find_user(username=manager["username"])
        if user is None:  # the password is set once: a manager may change it in Superset
            security_manager.add_user(manager["username"], manager["first_name"], manager["last_name"],
                                      manager["email"], [gamma, viewer, own], password=manager["password"])
        else:
            user.roles, user.active, user.email = [gamma, viewer, own], True, manager["email"]
        rls = db.session.query(RowLevelSecurityFilter).filter_by(name=own.name).one_or_none()
        if rls is None:
            rls = RowLevelSecurityFilter(name=own.name)
            db.session.add(rls)
        rls.filter_type, rls.clause, rls.roles, rls.tables = (RowLevelSecurityFilterType.REGULAR, manager["clause"],
                                                              [own], regional)
        rls.description = "Their oblasts (dbt_project/seeds/region_managers.csv); made by `nps bi setup`."
    for role in db.session.query(security_manager.role_model).filter(
            security_manager.role_model.name.startswith(prefix)).all():
        if role.name not in current:
            for user in db.session.query(security_manager.user_model).filter(
                    security_manager.user_model.roles.contains(role)).all():
                user.active = False
            db.session.query(RowLevelSecurityFilter).filter_by(name=role.name).delete()
    db.session.commit()
    print(f"{len(access['managers'])} regional managers: their oblasts on {len(regional)} datasets")


def main(path: str, username: str, access_path: str | None = None) -> None:
    from superset.app import create_app

    app = create_app()
    with app.app_context():
        from superset import security_manager
        from superset.commands.importers.v1.assets import ImportAssetsCommand
        from superset.commands.importers.v1.utils import get_contents_from_bundle
        from superset.utils.core import override_user

        user = security_manager.find_user(username=username)
        if user is None:
            raise SystemExit(f"no Superset user {username!r}: run `superset fab create-admin` first")
        with zipfile.ZipFile(path) as bundle:
            contents = get_contents_from_bundle(bundle)
        with override_user(user):
            ImportAssetsCommand(contents).run()
        print(f"imported {len(contents)} files from {path}")
        if access_path:
            with open(access_path, encoding="utf-8") as file:
                grant_managers(json.load(file))


if __name__ == "__main__":
    main(*sys.argv[1:4])
