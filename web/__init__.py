"""The reference student web app: the server-rendered shell that loads the ES modules in
``static/campus/`` (the SDK and the app built on it), and the join / intro landing pages."""
