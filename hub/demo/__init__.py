"""``hub demo``: the notices' own scenario (泉医保〔2024〕70号) played through a real hub.

泉州市 (notice 泉医保〔2024〕70号): the city's medical insurance bureau, intermediate court,
procuratorate, public security bureau, finance bureau and health commission, the discipline
inspection commission, and the county bureaus of 晋江, 南安 and 石狮, hand each other a week of
work (the next working week) over a hub started on the embedded defaults.

- :mod:`demo.scenario` writes the week as data, deterministic for a seed (pure);
- :mod:`demo.agencies` gives every department a connector and an inbox it reads in the
  background, except the health commission, whose system speaks only HTTP and takes part through
  its own ``hub gateway`` (:mod:`demo.gateway_agency`);
- :mod:`demo.hub` starts ``hub run`` with its clock set to the scripted week and moves it;
- :mod:`demo.play` plays the script step by step, shows progress, and ends with the board, the
  weekly report (forms 1–3) and ``hub audit verify``.
"""
