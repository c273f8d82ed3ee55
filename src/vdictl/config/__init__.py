"""The configuration: from the file to the frozen records every layer reads.

    file.py        finds the file and reads it (configobj); room titles alone
    spec.py        the key table (KEYS): every key, its type, section, default and help
    values.py      one value of a key converted and checked (sizes, ids, booleans, regexes)
    connect.py     the [connect] sections' checks, one driver at a time
    load.py        load_config: the file checked against spec.py, rooms resolved
    convert.py     one written value converted by its type (load.py calls it)
    vms.py         one subsection expanded into its VmSpec records
    templating.py  the ${roomname}-vd${id} templates (template_rules.py: their limits;
                   jinja_sandbox.py: the sandboxed Jinja2 they render in)
    linear_regex.py  reset_to_snapshot_regex, matched in linear time (RE2)
    rooms.py       the records: Config, Room, VmSpec, Connect, Throttle
    secrets.py     where a password or token secret is read from (files, systemd credentials)
    trust.py       the files and directories root reads: refused when others can write them

Nothing outside this package reads the config file. The package imports none
of its modules here: `vdictl rooms` and `--help` load file.py alone, and the
drivers read rooms.py without loading configobj or Jinja2.
"""
