"""A VM's first-boot payload (cloud-init or Autounattend.xml).

    payload.py  the Payload record: all a driver sees (no YAML, no templating)
    render.py   renders and checks a room's payload templates before anything is created
"""
